// The gguf-debias addon: a few primitives over llama.cpp (load, tokenize, batched evaluation with FFN
// hooks, ggml type conversion). Every decision about what to evaluate lives in TypeScript.
#include <napi.h>

#include "addon.h"
#include "context.h"
#include "errors.h"
#include "file-lock.h"
#include "ggml-backend.h"
#include "llama.h"
#include "log.h"
#include "model.h"
#include "quant.h"

#ifndef GGUF_DEBIAS_LLAMA_MODE
#define GGUF_DEBIAS_LLAMA_MODE "unknown"
#endif
#ifndef GGUF_DEBIAS_LLAMA_COMMIT
#define GGUF_DEBIAS_LLAMA_COMMIT "unknown"
#endif

namespace gd {
namespace {

Napi::Value BuildInfo(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    Napi::Object out = Napi::Object::New(env);
    out.Set("llama", GGUF_DEBIAS_LLAMA_MODE);
    out.Set("llamaCommit", GGUF_DEBIAS_LLAMA_COMMIT);
    out.Set("systemInfo", llama_print_system_info());
    Napi::Array devices = Napi::Array::New(env);
    for (size_t i = 0; i < ggml_backend_dev_count(); i++) {
        ggml_backend_dev_t dev = ggml_backend_dev_get(i);
        Napi::Object d = Napi::Object::New(env);
        d.Set("name", ggml_backend_dev_name(dev));
        d.Set("description", ggml_backend_dev_description(dev));
        devices.Set(static_cast<uint32_t>(i), d);
    }
    out.Set("devices", devices);
    return out;
}

// loadBackends(path: string, single?: boolean): number of backends registered afterwards. A folder
// loads every backend library in it (ggml picks the best CPU variant); single loads the one file `path`.
// With prebuilt dynamic backends the CPU backend itself is a plugin: nothing runs until one is loaded.
Napi::Value LoadBackends(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsString()) {
        Throw(env, "E_ARGUMENT", "loadBackends expects (path: string, single?: boolean)");
    }
    std::string path = info[0].As<Napi::String>();
    if (info.Length() >= 2 && info[1].ToBoolean()) {
        if (ggml_backend_load(path.c_str()) == nullptr) {
            Throw(env, "E_BACKEND", "ggml could not load the backend library " + path);
        }
    } else {
        ggml_backend_load_all_from_path(path.c_str());
    }
    return Napi::Number::New(env, static_cast<double>(ggml_backend_reg_count()));
}

}  // namespace

Napi::Object Init(Napi::Env env, Napi::Object exports) {
    InstallLogFilter();
    llama_backend_init();
    auto * data = new AddonData();
    data->model_constructor = Napi::Persistent(Model::Define(env));
    data->context_constructor = Napi::Persistent(Context::Define(env));
    env.SetInstanceData(data);
    exports.Set("buildInfo", Napi::Function::New(env, BuildInfo));
    exports.Set("loadBackends", Napi::Function::New(env, LoadBackends));
    exports.Set("lockFile", Napi::Function::New(env, LockFile));
    exports.Set("loadModel", Napi::Function::New(env, Model::Load));
    exports.Set("typeInfo", Napi::Function::New(env, TypeInfo));
    exports.Set("dequantize", Napi::Function::New(env, Dequantize));
    exports.Set("quantize", Napi::Function::New(env, Quantize));
    exports.Set("quantizeFile", Napi::Function::New(env, QuantizeFile));
    return exports;
}

}  // namespace gd

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return gd::Init(env, exports); }

NODE_API_MODULE(gguf_debias, InitAddon)
