#include "quant.h"

#include <cstring>
#include <vector>

#include "errors.h"
#include "ggml.h"
#include "llama.h"
#include "log.h"

namespace gd {
namespace {

ggml_type CheckedType(Napi::Env env, const Napi::Value & value) {
    if (!value.IsNumber()) {
        Throw(env, "E_ARGUMENT", "a ggml type id must be a number");
    }
    int32_t id = value.As<Napi::Number>().Int32Value();
    if (id < 0 || id >= GGML_TYPE_COUNT || ggml_get_type_traits(static_cast<ggml_type>(id))->blck_size == 0) {
        Throw(env, "E_GGML_TYPE", "ggml type " + std::to_string(id) + " is unknown to this build of ggml");
    }
    return static_cast<ggml_type>(id);
}

class DequantizeWorker : public PromiseWorker {
  public:
    DequantizeWorker(Napi::Env env, ggml_type type, std::vector<uint8_t> bytes, int64_t n)
        : PromiseWorker(env), type_(type), bytes_(std::move(bytes)), n_(n) {}

    void Execute() override {
        values_.resize(static_cast<size_t>(n_));
        if (type_ == GGML_TYPE_F32) {
            std::memcpy(values_.data(), bytes_.data(), values_.size() * sizeof(float));
            return;
        }
        const auto * traits = ggml_get_type_traits(type_);
        if (traits->to_float == nullptr) {
            Fail("E_GGML_TYPE", std::string("ggml cannot convert type ") + ggml_type_name(type_) + " to float");
            return;
        }
        traits->to_float(bytes_.data(), values_.data(), n_);
    }

    Napi::Value Result(Napi::Env env) override {
        Napi::Float32Array out = Napi::Float32Array::New(env, values_.size());
        std::copy(values_.begin(), values_.end(), out.Data());
        return out;
    }

  private:
    ggml_type type_;
    std::vector<uint8_t> bytes_;
    int64_t n_;
    std::vector<float> values_;
};

class QuantizeWorker : public PromiseWorker {
  public:
    QuantizeWorker(Napi::Env env, ggml_type type, std::vector<float> values, int64_t n_per_row)
        : PromiseWorker(env), type_(type), values_(std::move(values)), n_per_row_(n_per_row) {}

    void Execute() override {
        const int64_t n_rows = static_cast<int64_t>(values_.size()) / n_per_row_;
        bytes_.resize(ggml_row_size(type_, n_per_row_) * static_cast<size_t>(n_rows));
        ggml_quantize_chunk(type_, values_.data(), bytes_.data(), 0, n_rows, n_per_row_, nullptr);
    }

    Napi::Value Result(Napi::Env env) override {
        Napi::Uint8Array out = Napi::Uint8Array::New(env, bytes_.size());
        std::copy(bytes_.begin(), bytes_.end(), out.Data());
        return out;
    }

  private:
    ggml_type type_;
    std::vector<float> values_;
    int64_t n_per_row_;
    std::vector<uint8_t> bytes_;
};

class QuantizeFileWorker : public PromiseWorker {
  public:
    QuantizeFileWorker(Napi::Env env, std::string input, std::string output, int32_t ftype, int32_t threads)
        : PromiseWorker(env), input_(std::move(input)), output_(std::move(output)), ftype_(ftype), threads_(threads) {}

    void Execute() override {
        llama_model_quantize_params params = llama_model_quantize_default_params();
        params.ftype = static_cast<llama_ftype>(ftype_);
        params.nthread = threads_;
        ClearLlamaError();
        if (llama_model_quantize(input_.c_str(), output_.c_str(), &params) != 0) {
            std::string reason = FirstLlamaError();
            Fail("E_QUANTIZE", "llama.cpp could not quantize " + input_ + " to " + output_ + (reason.empty() ? "" : ": " + reason));
        }
    }

    Napi::Value Result(Napi::Env env) override { return env.Undefined(); }

  private:
    std::string input_;
    std::string output_;
    int32_t ftype_;
    int32_t threads_;
};

}  // namespace

// typeInfo(type): {name, blockSize, typeSize, isQuantized, canQuantize, needsImatrix}
Napi::Value TypeInfo(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    ggml_type type = CheckedType(env, info[0]);
    const auto * traits = ggml_get_type_traits(type);
    Napi::Object out = Napi::Object::New(env);
    out.Set("name", ggml_type_name(type));
    out.Set("blockSize", static_cast<double>(traits->blck_size));
    out.Set("typeSize", static_cast<double>(traits->type_size));
    out.Set("isQuantized", traits->is_quantized);
    out.Set("canDequantize", type == GGML_TYPE_F32 || traits->to_float != nullptr);
    out.Set("needsImatrix", ggml_quantize_requires_imatrix(type));
    return out;
}

// dequantize(type, bytes: Uint8Array, nElements): Promise<Float32Array>
Napi::Value Dequantize(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    ggml_type type = CheckedType(env, info[0]);
    if (info.Length() < 3 || !info[1].IsTypedArray() || info[1].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array ||
        !info[2].IsNumber()) {
        Throw(env, "E_ARGUMENT", "dequantize expects (type: number, bytes: Uint8Array, nElements: number)");
    }
    auto bytes = info[1].As<Napi::Uint8Array>();
    double n = info[2].As<Napi::Number>().DoubleValue();
    int64_t block = ggml_blck_size(type);
    if (n <= 0 || n > 1e12 || static_cast<int64_t>(n) % block != 0 ||
        ggml_row_size(type, static_cast<int64_t>(n)) != bytes.ByteLength()) {
        Throw(env, "E_ARGUMENT", std::string("dequantize: ") + std::to_string(bytes.ByteLength()) + " bytes do not hold " +
                                     std::to_string(static_cast<int64_t>(n)) + " elements of type " + ggml_type_name(type));
    }
    return PromiseWorker::Start(new DequantizeWorker(env, type, std::vector<uint8_t>(bytes.Data(), bytes.Data() + bytes.ByteLength()),
                                         static_cast<int64_t>(n)));
}

// quantize(type, values: Float32Array, nPerRow): Promise<Uint8Array>
Napi::Value Quantize(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    ggml_type type = CheckedType(env, info[0]);
    if (info.Length() < 3 || !info[1].IsTypedArray() || info[1].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array ||
        !info[2].IsNumber()) {
        Throw(env, "E_ARGUMENT", "quantize expects (type: number, values: Float32Array, nPerRow: number)");
    }
    auto values = info[1].As<Napi::Float32Array>();
    double n_per_row = info[2].As<Napi::Number>().DoubleValue();
    if (n_per_row <= 0 || static_cast<int64_t>(n_per_row) % ggml_blck_size(type) != 0 ||
        values.ElementLength() % static_cast<size_t>(n_per_row) != 0) {
        Throw(env, "E_ARGUMENT", std::string("quantize: rows of ") + std::to_string(static_cast<int64_t>(n_per_row)) +
                                     " values do not fit the blocks of type " + ggml_type_name(type));
    }
    if (ggml_quantize_requires_imatrix(type)) {
        Throw(env, "E_GGML_TYPE", std::string("ggml cannot quantize to ") + ggml_type_name(type) + " without an importance matrix");
    }
    return PromiseWorker::Start(new QuantizeWorker(env, type, std::vector<float>(values.Data(), values.Data() + values.ElementLength()),
                                       static_cast<int64_t>(n_per_row)));
}

// quantizeFile(input, output, ftype, threads): Promise<void>
Napi::Value QuantizeFile(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    if (info.Length() < 4 || !info[0].IsString() || !info[1].IsString() || !info[2].IsNumber() || !info[3].IsNumber()) {
        Throw(env, "E_ARGUMENT", "quantizeFile expects (input: string, output: string, ftype: number, threads: number)");
    }
    return PromiseWorker::Start(new QuantizeFileWorker(env, info[0].As<Napi::String>(), info[1].As<Napi::String>(),
                                           info[2].As<Napi::Number>().Int32Value(), info[3].As<Napi::Number>().Int32Value()));
}

}  // namespace gd
