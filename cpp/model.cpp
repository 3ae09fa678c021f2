#include "model.h"

#include <algorithm>
#include <thread>
#include <vector>

#include "addon.h"
#include "context.h"
#include "errors.h"
#include "log.h"

namespace gd {
namespace {

std::string MetaString(const llama_model * model, const char * key) {
    std::vector<char> buf(256);
    int32_t n = llama_model_meta_val_str(model, key, buf.data(), buf.size());
    if (n < 0) {
        return "";
    }
    if (static_cast<size_t>(n) >= buf.size()) {
        buf.resize(static_cast<size_t>(n) + 1);
        llama_model_meta_val_str(model, key, buf.data(), buf.size());
    }
    return std::string(buf.data(), static_cast<size_t>(n));
}

class LoadWorker : public PromiseWorker {
  public:
    LoadWorker(Napi::Env env, std::string path, int gpu_layers, bool use_mmap)
        : PromiseWorker(env), path_(std::move(path)), gpu_layers_(gpu_layers), use_mmap_(use_mmap) {}

    void Execute() override {
        llama_model_params params = llama_model_default_params();
        params.n_gpu_layers = gpu_layers_;
        params.load_mode = use_mmap_ ? LLAMA_LOAD_MODE_MMAP : LLAMA_LOAD_MODE_NONE;
        ClearLlamaError();
        model_ = llama_model_load_from_file(path_.c_str(), params);
        if (model_ == nullptr) {
            std::string reason = FirstLlamaError();
            Fail("E_MODEL_LOAD", "llama.cpp could not load the model " + path_ + (reason.empty() ? "" : ": " + reason));
        }
    }

    Napi::Value Result(Napi::Env env) override {
        Napi::Object object = Data(env).model_constructor.New({});
        auto handle = std::make_shared<ModelHandle>();
        handle->model = model_;
        handle->path = path_;
        model_ = nullptr;
        Model::Unwrap(object)->Attach(std::move(handle));
        return object;
    }

    ~LoadWorker() override {
        if (model_ != nullptr) {
            llama_model_free(model_);
        }
    }

  private:
    std::string path_;
    int gpu_layers_;
    bool use_mmap_;
    llama_model * model_ = nullptr;
};

}  // namespace

Napi::Function Model::Define(Napi::Env env) {
    return DefineClass(env, "NativeModel",
                       {
                           InstanceMethod<&Model::Facts>("facts"),
                           InstanceMethod<&Model::Tokenize>("tokenize"),
                           InstanceMethod<&Model::Detokenize>("detokenize"),
                           InstanceMethod<&Model::CreateContext>("createContext"),
                           InstanceMethod<&Model::Dispose>("dispose"),
                       });
}

Model::Model(const Napi::CallbackInfo & info) : Napi::ObjectWrap<Model>(info) {}

void Model::Attach(std::shared_ptr<ModelHandle> handle) { handle_ = std::move(handle); }

std::shared_ptr<ModelHandle> Model::Handle(Napi::Env env) const {
    if (!handle_) {
        Throw(env, "E_DISPOSED", "the model was disposed and cannot be used any more");
    }
    return handle_;
}

// loadModel(path: string, gpuLayers: number, useMmap: boolean): Promise<NativeModel>
Napi::Value Model::Load(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    if (info.Length() < 3 || !info[0].IsString() || !info[1].IsNumber() || !info[2].IsBoolean()) {
        Throw(env, "E_ARGUMENT", "loadModel expects (path: string, gpuLayers: number, useMmap: boolean)");
    }
    return PromiseWorker::Start(new LoadWorker(env, info[0].As<Napi::String>(), info[1].As<Napi::Number>().Int32Value(),
                                   info[2].As<Napi::Boolean>()));
}

Napi::Value Model::Facts(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    auto handle = Handle(env);
    const llama_model * model = handle->model;
    const llama_vocab * vocab = handle->vocab();
    Napi::Object facts = Napi::Object::New(env);
    std::vector<char> desc(256);
    llama_model_desc(model, desc.data(), desc.size());
    facts.Set("path", handle->path);
    facts.Set("arch", MetaString(model, "general.architecture"));
    facts.Set("description", std::string(desc.data()));
    facts.Set("nLayer", llama_model_n_layer(model));
    facts.Set("nEmbd", llama_model_n_embd(model));
    facts.Set("nHead", llama_model_n_head(model));
    facts.Set("nCtxTrain", llama_model_n_ctx_train(model));
    facts.Set("nVocab", llama_vocab_n_tokens(vocab));
    facts.Set("nParams", static_cast<double>(llama_model_n_params(model)));
    facts.Set("sizeBytes", static_cast<double>(llama_model_size(model)));
    facts.Set("bos", llama_vocab_bos(vocab));
    facts.Set("eos", llama_vocab_eos(vocab));
    facts.Set("addBos", llama_vocab_get_add_bos(vocab));
    return facts;
}

namespace {

// The text as a JS string literal would show it, cut to a readable length.
std::string Quoted(const std::string & text) {
    size_t end = std::min<size_t>(text.size(), 80);
    while (end < text.size() && end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) {
        end--;  // not inside a UTF-8 sequence
    }
    std::string out = "\"";
    for (size_t i = 0; i < end; i++) {
        char c = text[i];
        if (c == '"' || c == '\\') out += '\\';
        out += c == '\n' ? ' ' : c;
    }
    return out + (end < text.size() ? "…\"" : "\"");
}

// Runs a llama.cpp (de)tokenizer call that answers -needed when `buffer` is too small, growing it once.
// The tokenizers throw (std::map::at) on a byte their vocabulary has no token for, e.g. a SentencePiece
// vocabulary without byte fallback given a character it never saw: that becomes E_TOKENIZE.
template <typename Buffer, typename Call>
int32_t Grown(Napi::Env env, Buffer & buffer, Call call, const std::string & failure) {
    int32_t n = 0;
    try {
        n = call();
        if (n < 0) {
            buffer.resize(static_cast<size_t>(-n));
            n = call();
        }
    } catch (const std::exception & err) {
        Throw(env, "E_TOKENIZE", failure + " (llama.cpp: " + err.what() + ")");
    }
    if (n < 0) {
        Throw(env, "E_TOKENIZE", failure);
    }
    return n;
}

}  // namespace

// tokenize(text: string, addSpecial: boolean, parseSpecial: boolean): Int32Array
Napi::Value Model::Tokenize(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    auto handle = Handle(env);
    if (info.Length() < 3 || !info[0].IsString() || !info[1].IsBoolean() || !info[2].IsBoolean()) {
        Throw(env, "E_ARGUMENT", "tokenize expects (text: string, addSpecial: boolean, parseSpecial: boolean)");
    }
    std::string text = info[0].As<Napi::String>();
    bool add_special = info[1].As<Napi::Boolean>();
    bool parse_special = info[2].As<Napi::Boolean>();
    std::vector<llama_token> tokens(text.size() + 8);
    int32_t n = Grown(env, tokens, [&]() {
        return llama_tokenize(handle->vocab(), text.data(), static_cast<int32_t>(text.size()), tokens.data(),
                              static_cast<int32_t>(tokens.size()), add_special, parse_special);
    }, "this model's vocabulary cannot spell the text " + Quoted(text));
    Napi::Int32Array out = Napi::Int32Array::New(env, static_cast<size_t>(n));
    std::copy(tokens.begin(), tokens.begin() + n, out.Data());
    return out;
}

// detokenize(tokens: Int32Array, removeSpecial: boolean, unparseSpecial: boolean): string
Napi::Value Model::Detokenize(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    auto handle = Handle(env);
    if (info.Length() < 3 || !info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array ||
        !info[1].IsBoolean() || !info[2].IsBoolean()) {
        Throw(env, "E_ARGUMENT", "detokenize expects (tokens: Int32Array, removeSpecial: boolean, unparseSpecial: boolean)");
    }
    Napi::Int32Array tokens = info[0].As<Napi::Int32Array>();
    int32_t n_vocab = llama_vocab_n_tokens(handle->vocab());
    for (size_t i = 0; i < tokens.ElementLength(); i++) {
        if (tokens[i] < 0 || tokens[i] >= n_vocab) {
            Throw(env, "E_TOKEN_RANGE", "token id " + std::to_string(tokens[i]) + " is outside the vocabulary of " +
                                            std::to_string(n_vocab) + " tokens");
        }
    }
    bool remove_special = info[1].As<Napi::Boolean>();
    bool unparse_special = info[2].As<Napi::Boolean>();
    std::vector<char> text(tokens.ElementLength() * 16 + 16);
    int32_t n = Grown(env, text, [&]() {
        return llama_detokenize(handle->vocab(), tokens.Data(), static_cast<int32_t>(tokens.ElementLength()), text.data(),
                                static_cast<int32_t>(text.size()), remove_special, unparse_special);
    }, "llama.cpp could not detokenize the tokens");
    return Napi::String::New(env, text.data(), static_cast<size_t>(n));
}

Napi::Value Model::CreateContext(const Napi::CallbackInfo & info) {
    return Context::Create(info, Handle(info.Env()));
}

Napi::Value Model::Dispose(const Napi::CallbackInfo & info) {
    handle_.reset();
    return info.Env().Undefined();
}

}  // namespace gd
