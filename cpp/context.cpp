#include "context.h"

#include <cmath>
#include <cstring>
#include <thread>

#include "addon.h"
#include "errors.h"
#include "ggml-backend.h"
#include "hook.h"
#include "log.h"
#include "request.h"

namespace gd {
namespace {

// Log-softmax of one logits row, accumulated in double so long vocabularies lose nothing.
double LogSumExp(const float * logits, int32_t n) {
    float max = -INFINITY;
    for (int32_t i = 0; i < n; i++) {
        max = std::max(max, logits[i]);
    }
    double sum = 0.0;
    for (int32_t i = 0; i < n; i++) {
        sum += std::exp(static_cast<double>(logits[i]) - max);
    }
    return max + std::log(sum);
}

class CreateWorker : public PromiseWorker {
  public:
    CreateWorker(Napi::Env env, std::shared_ptr<ContextHandle> handle, llama_context_params params)
        : PromiseWorker(env), handle_(std::move(handle)), params_(params) {}

    void Execute() override {
        ClearLlamaError();
        handle_->ctx = llama_init_from_model(handle_->model->model, params_);
        if (handle_->ctx == nullptr) {
            std::string reason = FirstLlamaError();
            Fail("E_CONTEXT", "llama.cpp could not create an evaluation context" + (reason.empty() ? "" : ": " + reason));
        }
    }

    Napi::Value Result(Napi::Env env) override {
        Napi::Object object = Data(env).context_constructor.New({});
        Context::Unwrap(object)->Attach(handle_);
        return object;
    }

  private:
    std::shared_ptr<ContextHandle> handle_;
    llama_context_params params_;
};

class EvaluateWorker : public PromiseWorker {
  public:
    EvaluateWorker(Napi::Env env, std::shared_ptr<ContextHandle> handle, EvalRequest request)
        : PromiseWorker(env), handle_(std::move(handle)), request_(std::move(request)) {}

    ~EvaluateWorker() override { handle_->busy = false; }

    void Execute() override {
        Hook & hook = *handle_->hook;
        llama_context * ctx = handle_->ctx;
        const auto n_tokens = static_cast<int32_t>(request_.tokens.size());
        const auto n_seq = static_cast<int32_t>(request_.seq_starts.size()) - 1;

        hook.capture_slot.assign(static_cast<size_t>(hook.n_layer), -1);
        hook.interventions.assign(static_cast<size_t>(hook.n_layer), {});
        hook.wanted.assign(static_cast<size_t>(hook.n_layer), 0);
        hook.seen.assign(static_cast<size_t>(hook.n_layer), 0);
        hook.error.clear();
        hook.error_code.clear();
        for (size_t i = 0; i < request_.capture_layers.size(); i++) {
            hook.capture_slot[static_cast<size_t>(request_.capture_layers[i])] = static_cast<int32_t>(i);
            hook.wanted[static_cast<size_t>(request_.capture_layers[i])] = 1;
        }
        for (const Intervention & iv : request_.interventions) {
            hook.interventions[static_cast<size_t>(iv.layer)].push_back(&iv);
            hook.wanted[static_cast<size_t>(iv.layer)] = 1;
        }
        hook.named_seen.assign(request_.capture_names.size(), 0);
        result_.named.assign(request_.capture_names.size(), {});
        result_.named_width.assign(request_.capture_names.size(), 0);
        hook.output_rank.assign(static_cast<size_t>(n_tokens), -1);
        for (size_t i = 0; i < request_.outputs.size(); i++) {
            hook.output_rank[static_cast<size_t>(request_.outputs[i])] = static_cast<int32_t>(i);
        }

        llama_batch batch = llama_batch_init(n_tokens, 0, 1);
        for (int32_t s = 0; s < n_seq; s++) {
            for (int32_t i = request_.seq_starts[s]; i < request_.seq_starts[s + 1]; i++) {
                batch.token[i] = request_.tokens[static_cast<size_t>(i)];
                batch.pos[i] = i - request_.seq_starts[s];
                batch.n_seq_id[i] = 1;
                batch.seq_id[i][0] = s;
                batch.logits[i] = hook.output_rank[static_cast<size_t>(i)] >= 0;
            }
        }
        batch.n_tokens = n_tokens;

        llama_memory_clear(llama_get_memory(ctx), true);
        hook.request = &request_;
        hook.result = &result_;
        ClearLlamaError();
        int32_t rc = llama_decode(ctx, batch);
        hook.request = nullptr;
        hook.result = nullptr;
        llama_batch_free(batch);

        if (!hook.error.empty()) {
            Fail(hook.error_code, hook.error);
            return;
        }
        if (rc != 0) {
            std::string reason = FirstLlamaError();
            Fail("E_DECODE", "llama.cpp failed to evaluate the batch (llama_decode returned " + std::to_string(rc) + ")" +
                                 (reason.empty() ? "" : ": " + reason));
            return;
        }
        for (int32_t layer = 0; layer < hook.n_layer; layer++) {
            if (hook.wanted[static_cast<size_t>(layer)] && !hook.seen[static_cast<size_t>(layer)]) {
                Fail("E_HOOK_NOT_FOUND", "the FFN activation tensor " + hook.prefix + std::to_string(layer) +
                                             " does not appear in llama.cpp's graph for this model");
                return;
            }
        }

        for (size_t i = 0; i < request_.capture_names.size(); i++) {
            if (!hook.named_seen[i]) {
                Fail("E_HOOK_NOT_FOUND", "the tensor " + request_.capture_names[i] +
                                             " does not appear in llama.cpp's graph for this model");
                return;
            }
        }

        const int32_t n_vocab = llama_vocab_n_tokens(handle_->model->vocab());
        std::vector<double> lse(static_cast<size_t>(n_tokens), NAN);
        auto logits_of = [&](int32_t row) -> const float * {
            const float * logits = llama_get_logits_ith(ctx, row);
            if (std::isnan(lse[static_cast<size_t>(row)])) {
                lse[static_cast<size_t>(row)] = LogSumExp(logits, n_vocab);
            }
            return logits;
        };
        result_.target_logprobs.resize(request_.target_rows.size());
        for (size_t i = 0; i < request_.target_rows.size(); i++) {
            int32_t row = request_.target_rows[i];
            const float * logits = logits_of(row);
            result_.target_logprobs[i] =
                static_cast<float>(logits[request_.target_tokens[i]] - lse[static_cast<size_t>(row)]);
        }
        result_.distributions.resize(request_.distribution_rows.size() * static_cast<size_t>(n_vocab));
        for (size_t i = 0; i < request_.distribution_rows.size(); i++) {
            int32_t row = request_.distribution_rows[i];
            const float * logits = logits_of(row);
            double norm = lse[static_cast<size_t>(row)];
            float * out = &result_.distributions[i * static_cast<size_t>(n_vocab)];
            for (int32_t v = 0; v < n_vocab; v++) {
                out[v] = static_cast<float>(logits[v] - norm);
            }
        }
        const size_t n_compare = request_.compare_rows.size();
        result_.compare_kl.resize(n_compare);
        result_.compare_agree.resize(n_compare);
        result_.compare_logprob.resize(n_compare);
        std::vector<float> row_buffer(n_compare > 0 ? static_cast<size_t>(n_vocab) : 0);
        for (size_t i = 0; i < n_compare; i++) {
            int32_t row = request_.compare_rows[i];
            const float * logits = logits_of(row);
            double norm = lse[static_cast<size_t>(row)];
            const float * ref = request_.compare_reference + static_cast<size_t>(request_.compare_reference_rows[i]) * static_cast<size_t>(n_vocab);
            // The row as the reference was stored (float log-probs), both renormalized the same way, so a
            // row compared with itself gives exactly 0.
            for (int32_t v = 0; v < n_vocab; v++) {
                row_buffer[static_cast<size_t>(v)] = static_cast<float>(logits[v] - norm);
            }
            double ref_norm = LogSumExp(ref, n_vocab);
            double row_norm = LogSumExp(row_buffer.data(), n_vocab);
            double kl = 0;
            int32_t best = 0;
            int32_t best_ref = 0;
            for (int32_t v = 0; v < n_vocab; v++) {
                double lp = ref[v] - ref_norm;
                if (lp != -INFINITY) {
                    kl += std::exp(lp) * (lp - (row_buffer[static_cast<size_t>(v)] - row_norm));
                }
                if (row_buffer[static_cast<size_t>(v)] > row_buffer[static_cast<size_t>(best)]) {
                    best = v;
                }
                if (ref[v] > ref[best_ref]) {
                    best_ref = v;
                }
            }
            result_.compare_kl[i] = std::max(0.0, kl);
            result_.compare_agree[i] = best == best_ref ? 1 : 0;
            result_.compare_logprob[i] = static_cast<float>(logits[request_.compare_tokens[i]] - norm);
        }
    }

    Napi::Value Result(Napi::Env env) override {
        Napi::Object out = Napi::Object::New(env);
        auto copy = [&](const std::vector<float> & values) {
            Napi::Float32Array array = Napi::Float32Array::New(env, values.size());
            std::copy(values.begin(), values.end(), array.Data());
            return array;
        };
        out.Set("logprobs", copy(result_.target_logprobs));
        // Distribution rows can run to hundreds of megabytes (128k-token vocabularies): handed over, not copied.
        if (result_.distributions.empty()) {
            out.Set("distributions", Napi::Float32Array::New(env, 0));
        } else {
            auto * rows = new std::vector<float>(std::move(result_.distributions));
            Napi::ArrayBuffer buffer = Napi::ArrayBuffer::New(
                env, rows->data(), rows->size() * sizeof(float), [](Napi::Env, void *, std::vector<float> * owned) { delete owned; }, rows);
            out.Set("distributions", Napi::Float32Array::New(env, rows->size(), buffer, 0));
        }
        out.Set("activations", copy(result_.activations));
        out.Set("nFf", static_cast<double>(result_.n_ff));
        Napi::Array named = Napi::Array::New(env, result_.named.size());
        for (size_t i = 0; i < result_.named.size(); i++) {
            Napi::Object entry = Napi::Object::New(env);
            entry.Set("width", static_cast<double>(result_.named_width[i]));
            entry.Set("values", copy(result_.named[i]));
            named.Set(static_cast<uint32_t>(i), entry);
        }
        out.Set("named", named);
        Napi::Float64Array kl = Napi::Float64Array::New(env, result_.compare_kl.size());
        std::copy(result_.compare_kl.begin(), result_.compare_kl.end(), kl.Data());
        Napi::Uint8Array agree = Napi::Uint8Array::New(env, result_.compare_agree.size());
        std::copy(result_.compare_agree.begin(), result_.compare_agree.end(), agree.Data());
        Napi::Object compared = Napi::Object::New(env);
        compared.Set("kl", kl);
        compared.Set("agree", agree);
        compared.Set("logprobs", copy(result_.compare_logprob));
        out.Set("compared", compared);
        return out;
    }

  private:
    std::shared_ptr<ContextHandle> handle_;
    EvalRequest request_;
    EvalResult result_;

  public:
    // The reference rows stay JS memory, read in place off the main thread: they must outlive the work.
    Napi::ObjectReference reference;
};

}  // namespace

Napi::Function Context::Define(Napi::Env env) {
    return DefineClass(env, "NativeContext",
                       {
                           InstanceMethod<&Context::Evaluate>("evaluate"),
                           InstanceMethod<&Context::Dispose>("dispose"),
                       });
}

Context::Context(const Napi::CallbackInfo & info) : Napi::ObjectWrap<Context>(info) {}

void Context::Attach(std::shared_ptr<ContextHandle> handle) { handle_ = std::move(handle); }

// createContext({nCtx, nSeqMax, threads, kvType: "f32"|"f16", flashAttn, hookTensor}): Promise<NativeContext>
Napi::Value Context::Create(const Napi::CallbackInfo & info, std::shared_ptr<ModelHandle> model) {
    Napi::Env env = info.Env();
    Require(env, info.Length() >= 1 && info[0].IsObject(), "E_ARGUMENT", "createContext expects an options object");
    Napi::Object options = info[0].As<Napi::Object>();
    double n_ctx = NumberOption(options, "nCtx", 512);
    double n_seq_max = NumberOption(options, "nSeqMax", 1);
    double threads = NumberOption(options, "threads", std::thread::hardware_concurrency());
    std::string kv_type = StringOption(options, "kvType", "f32");
    std::string hook_tensor = StringOption(options, "hookTensor", "");
    Require(env, n_ctx >= 1 && n_ctx <= (1 << 24), "E_ARGUMENT", "createContext: nCtx must be between 1 and 16777216");
    Require(env, n_seq_max >= 1 && n_seq_max <= 256, "E_ARGUMENT", "createContext: nSeqMax must be between 1 and 256");
    Require(env, threads >= 1 && threads <= 1024, "E_ARGUMENT", "createContext: threads must be between 1 and 1024");
    Require(env, kv_type == "f32" || kv_type == "f16", "E_ARGUMENT", "createContext: kvType must be \"f32\" or \"f16\"");
    Require(env, !hook_tensor.empty(), "E_ARGUMENT", "createContext: hookTensor (the FFN activation name) is required");

    auto handle = std::make_shared<ContextHandle>();
    handle->model = std::move(model);
    handle->hook = std::make_unique<Hook>();
    handle->hook->prefix = hook_tensor + "-";
    handle->hook->n_layer = llama_model_n_layer(handle->model->model);
    handle->n_batch = static_cast<uint32_t>(n_ctx);
    handle->n_seq_max = static_cast<uint32_t>(n_seq_max);

    llama_context_params params = llama_context_default_params();
    params.n_ctx = handle->n_batch;
    // One ubatch per decode, so the hook sees the whole batch at once and rows map to known tokens.
    params.n_batch = handle->n_batch;
    params.n_ubatch = handle->n_batch;
    params.n_seq_max = handle->n_seq_max;
    params.kv_unified = true;
    params.n_threads = static_cast<int32_t>(threads);
    params.n_threads_batch = static_cast<int32_t>(threads);
    params.type_k = kv_type == "f32" ? GGML_TYPE_F32 : GGML_TYPE_F16;
    params.type_v = params.type_k;
    params.flash_attn_type = options.Get("flashAttn").ToBoolean() ? LLAMA_FLASH_ATTN_TYPE_ENABLED : LLAMA_FLASH_ATTN_TYPE_DISABLED;
    params.no_perf = true;
    params.cb_eval = HookCallback;
    params.cb_eval_user_data = handle->hook.get();

    return PromiseWorker::Start(new CreateWorker(env, handle, params));
}

// evaluate(request): Promise<{logprobs, distributions, activations, nFf, named, compared}>
Napi::Value Context::Evaluate(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    Require(env, handle_ != nullptr, "E_DISPOSED", "the evaluation context was disposed and cannot be used any more");
    Require(env, info.Length() >= 1 && info[0].IsObject(), "E_ARGUMENT", "evaluate expects a request object");
    EvalRequest request = ParseRequest(env, info[0].As<Napi::Object>(), *handle_);
    bool expected = false;
    Require(env, handle_->busy.compare_exchange_strong(expected, true), "E_BUSY",
            "the evaluation context is already evaluating; await the previous call first");
    bool compares = !request.compare_rows.empty();
    auto * worker = new EvaluateWorker(env, handle_, std::move(request));
    if (compares) {
        worker->reference = Napi::Persistent(info[0].As<Napi::Object>().Get("compareReference").As<Napi::Object>());
    }
    return PromiseWorker::Start(worker);
}

Napi::Value Context::Dispose(const Napi::CallbackInfo & info) {
    handle_.reset();
    return info.Env().Undefined();
}

}  // namespace gd
