// A loaded model. The llama_model lives in a shared handle so that contexts and in-flight workers keep it
// alive after the JS object is disposed; dispose() only makes the JS object unusable.
#pragma once

#include <napi.h>

#include <memory>
#include <string>

#include "llama.h"

namespace gd {

struct ModelHandle {
    llama_model * model = nullptr;
    std::string path;
    ~ModelHandle() {
        if (model != nullptr) {
            llama_model_free(model);
        }
    }
    const llama_vocab * vocab() const { return llama_model_get_vocab(model); }
};

class Model : public Napi::ObjectWrap<Model> {
  public:
    static Napi::Function Define(Napi::Env env);
    static Napi::Value Load(const Napi::CallbackInfo & info);

    explicit Model(const Napi::CallbackInfo & info);

    // Throws E_DISPOSED when the model was disposed.
    std::shared_ptr<ModelHandle> Handle(Napi::Env env) const;
    void Attach(std::shared_ptr<ModelHandle> handle);

  private:
    Napi::Value Facts(const Napi::CallbackInfo & info);
    Napi::Value Tokenize(const Napi::CallbackInfo & info);
    Napi::Value Detokenize(const Napi::CallbackInfo & info);
    Napi::Value CreateContext(const Napi::CallbackInfo & info);
    Napi::Value Dispose(const Napi::CallbackInfo & info);

    std::shared_ptr<ModelHandle> handle_;
};

}  // namespace gd
