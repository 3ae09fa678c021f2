// Errors cross the N-API boundary as JS Errors that carry a stable `code`, so TypeScript can branch on
// the code and the CLI can print the sentence. Worker threads cannot touch N-API, so they record a
// Failure and the main thread turns it into an Error when the promise settles.
#pragma once

#include <napi.h>

#include <string>
#include <utility>

namespace gd {

struct Failure {
    std::string code;
    std::string message;
    bool failed() const { return !code.empty(); }
};

inline Napi::Error MakeError(Napi::Env env, const std::string & code, const std::string & message) {
    Napi::Error error = Napi::Error::New(env, message);
    error.Set("code", Napi::String::New(env, code));
    return error;
}

[[noreturn]] inline void Throw(Napi::Env env, const std::string & code, const std::string & message) {
    throw MakeError(env, code, message);
}

// One promise per long call: Execute runs off the event loop and reports through `failure`.
class PromiseWorker : public Napi::AsyncWorker {
  public:
    explicit PromiseWorker(Napi::Env env) : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)) {}

    Napi::Promise Promise() { return deferred_.Promise(); }

    // Queues a heap-allocated worker (N-API deletes it when done) and hands back its promise.
    static Napi::Value Start(PromiseWorker * worker) {
        Napi::Promise promise = worker->Promise();
        worker->Queue();
        return promise;
    }

  protected:
    void Fail(std::string code, std::string message) {
        failure_ = {std::move(code), std::move(message)};
        SetError(failure_.message);
    }

    virtual Napi::Value Result(Napi::Env env) = 0;

    void OnOK() override {
        Napi::Env env = Env();
        Napi::HandleScope scope(env);
        try {
            deferred_.Resolve(Result(env));
        } catch (const Napi::Error & error) {
            deferred_.Reject(error.Value());
        }
    }

    void OnError(const Napi::Error &) override {
        Napi::HandleScope scope(Env());
        deferred_.Reject(MakeError(Env(), failure_.code, failure_.message).Value());
    }

  private:
    Napi::Promise::Deferred deferred_;
    Failure failure_;
};

}  // namespace gd
