// The JS request of evaluate() and the options of createContext(), read into C++ values the worker owns.
// The checks here are the request's shape and ranges, what keeps the decode thread inside its buffers;
// a library caller meets lib/llama/evaluator.ts's checks first, worded for people.
#include "request.h"

#include <cmath>
#include <string>

#include "errors.h"

namespace gd {
namespace {

// Typed-array fields of the request object, copied so the worker owns its input.
template <typename T, napi_typedarray_type Kind>
std::vector<T> ReadArray(Napi::Env env, const Napi::Object & object, const char * key, bool required) {
    Napi::Value value = object.Get(key);
    if (value.IsUndefined() || value.IsNull()) {
        if (required) {
            Throw(env, "E_ARGUMENT", std::string("evaluate: the request lacks `") + key + "`");
        }
        return {};
    }
    if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != Kind) {
        Throw(env, "E_ARGUMENT", std::string("evaluate: `") + key + "` has the wrong array type");
    }
    auto array = value.As<Napi::TypedArrayOf<T>>();
    return std::vector<T>(array.Data(), array.Data() + array.ElementLength());
}

}  // namespace

void Require(Napi::Env env, bool ok, const char * code, const std::string & message) {
    if (!ok) {
        Throw(env, code, message);
    }
}

EvalRequest ParseRequest(Napi::Env env, const Napi::Object & object, const ContextHandle & handle) {
    EvalRequest r;
    r.tokens = ReadArray<int32_t, napi_int32_array>(env, object, "tokens", true);
    r.seq_starts = ReadArray<int32_t, napi_int32_array>(env, object, "seqStarts", true);
    r.outputs = ReadArray<int32_t, napi_int32_array>(env, object, "outputs", false);
    r.target_rows = ReadArray<int32_t, napi_int32_array>(env, object, "targetRows", false);
    r.target_tokens = ReadArray<int32_t, napi_int32_array>(env, object, "targetTokens", false);
    r.distribution_rows = ReadArray<int32_t, napi_int32_array>(env, object, "distributionRows", false);
    r.capture_layers = ReadArray<int32_t, napi_int32_array>(env, object, "captureLayers", false);
    r.capture_rows = ReadArray<int32_t, napi_int32_array>(env, object, "captureRows", false);
    Napi::Value names = object.Get("captureNames");
    if (!names.IsUndefined() && !names.IsNull()) {
        Require(env, names.IsArray(), "E_ARGUMENT", "evaluate: `captureNames` must be an array of strings");
        auto list = names.As<Napi::Array>();
        for (uint32_t i = 0; i < list.Length(); i++) {
            Require(env, list.Get(i).IsString(), "E_ARGUMENT", "evaluate: `captureNames` must be an array of strings");
            r.capture_names.push_back(list.Get(i).As<Napi::String>());
        }
    }

    const auto n_tokens = static_cast<int64_t>(r.tokens.size());
    const int32_t n_vocab = llama_vocab_n_tokens(handle.model->vocab());
    const int32_t n_layer = handle.hook->n_layer;
    Require(env, n_tokens > 0, "E_ARGUMENT", "evaluate: the batch holds no tokens");
    Require(env, n_tokens <= handle.n_batch, "E_BATCH_TOO_LARGE",
            "evaluate: the batch holds " + std::to_string(n_tokens) + " tokens but the context takes at most " +
                std::to_string(handle.n_batch));
    for (llama_token token : r.tokens) {
        Require(env, token >= 0 && token < n_vocab, "E_TOKEN_RANGE",
                "token id " + std::to_string(token) + " is outside the vocabulary of " + std::to_string(n_vocab) + " tokens");
    }
    const auto n_seq = static_cast<int64_t>(r.seq_starts.size()) - 1;
    Require(env, n_seq >= 1 && n_seq <= handle.n_seq_max, "E_ARGUMENT",
            "evaluate: the batch must hold between 1 and " + std::to_string(handle.n_seq_max) + " prompts");
    Require(env, r.seq_starts.front() == 0 && r.seq_starts.back() == n_tokens, "E_ARGUMENT",
            "evaluate: seqStarts must run from 0 to the number of tokens");
    for (int64_t s = 0; s < n_seq; s++) {
        Require(env, r.seq_starts[s] < r.seq_starts[s + 1], "E_ARGUMENT", "evaluate: every prompt needs at least one token");
    }
    auto in_range = [&](const std::vector<int32_t> & rows, const char * what) {
        for (int32_t row : rows) {
            Require(env, row >= 0 && row < n_tokens, "E_ARGUMENT",
                    std::string("evaluate: a ") + what + " row is outside the batch");
        }
    };
    in_range(r.outputs, "output");
    in_range(r.capture_rows, "capture");
    for (size_t i = 1; i < r.outputs.size(); i++) {
        Require(env, r.outputs[i - 1] < r.outputs[i], "E_ARGUMENT", "evaluate: outputs must be sorted and unique");
    }
    std::vector<uint8_t> is_output(static_cast<size_t>(n_tokens), 0);
    for (int32_t row : r.outputs) {
        is_output[static_cast<size_t>(row)] = 1;
    }
    auto outputs_only = [&](const std::vector<int32_t> & rows, const char * what) {
        for (int32_t row : rows) {
            Require(env, row >= 0 && row < n_tokens && is_output[static_cast<size_t>(row)], "E_ARGUMENT",
                    std::string("evaluate: every ") + what + " row must be listed in outputs");
        }
    };
    outputs_only(r.target_rows, "target");
    outputs_only(r.distribution_rows, "distribution");
    r.compare_rows = ReadArray<int32_t, napi_int32_array>(env, object, "compareRows", false);
    r.compare_reference_rows = ReadArray<int32_t, napi_int32_array>(env, object, "compareReferenceRows", false);
    r.compare_tokens = ReadArray<int32_t, napi_int32_array>(env, object, "compareTokens", false);
    outputs_only(r.compare_rows, "compare");
    Require(env, r.compare_rows.size() == r.compare_reference_rows.size() && r.compare_rows.size() == r.compare_tokens.size(), "E_ARGUMENT",
            "evaluate: compareRows, compareReferenceRows and compareTokens differ in length");
    if (!r.compare_rows.empty()) {
        Napi::Value reference = object.Get("compareReference");
        Require(env, reference.IsTypedArray() && reference.As<Napi::TypedArray>().TypedArrayType() == napi_float32_array, "E_ARGUMENT",
                "evaluate: `compareReference` must be a Float32Array of log-prob rows");
        auto rows = reference.As<Napi::Float32Array>();
        Require(env, rows.ElementLength() % static_cast<size_t>(n_vocab) == 0, "E_ARGUMENT",
                "evaluate: `compareReference` holds " + std::to_string(rows.ElementLength()) + " values, not whole rows of " + std::to_string(n_vocab));
        r.compare_reference = rows.Data();
        r.compare_reference_count = rows.ElementLength() / static_cast<size_t>(n_vocab);
        for (int32_t row : r.compare_reference_rows) {
            Require(env, row >= 0 && static_cast<size_t>(row) < r.compare_reference_count, "E_ARGUMENT", "evaluate: a compare reference row is outside `compareReference`");
        }
        for (llama_token token : r.compare_tokens) {
            Require(env, token >= 0 && token < n_vocab, "E_TOKEN_RANGE",
                    "compare token id " + std::to_string(token) + " is outside the vocabulary of " + std::to_string(n_vocab) + " tokens");
        }
    }
    Require(env, r.target_rows.size() == r.target_tokens.size(), "E_ARGUMENT",
            "evaluate: targetRows and targetTokens differ in length");
    for (llama_token token : r.target_tokens) {
        Require(env, token >= 0 && token < n_vocab, "E_TOKEN_RANGE",
                "target token id " + std::to_string(token) + " is outside the vocabulary of " + std::to_string(n_vocab) +
                    " tokens");
    }
    std::vector<uint8_t> layer_seen(static_cast<size_t>(n_layer), 0);
    for (int32_t layer : r.capture_layers) {
        Require(env, layer >= 0 && layer < n_layer, "E_LAYER_RANGE",
                "layer " + std::to_string(layer) + " is out of range: the model has " + std::to_string(n_layer) + " layers");
        Require(env, !layer_seen[static_cast<size_t>(layer)], "E_ARGUMENT", "evaluate: a capture layer is listed twice");
        layer_seen[static_cast<size_t>(layer)] = 1;
    }

    Napi::Value list = object.Get("interventions");
    if (!list.IsUndefined() && !list.IsNull()) {
        Require(env, list.IsArray(), "E_ARGUMENT", "evaluate: `interventions` must be an array");
        auto array = list.As<Napi::Array>();
        for (uint32_t i = 0; i < array.Length(); i++) {
            Napi::Value item = array.Get(i);
            Require(env, item.IsObject(), "E_ARGUMENT", "evaluate: every intervention must be an object");
            Napi::Object entry = item.As<Napi::Object>();
            Intervention iv;
            Napi::Value layer = entry.Get("layer");
            Require(env, layer.IsNumber(), "E_ARGUMENT", "evaluate: an intervention lacks its layer");
            double layer_value = layer.As<Napi::Number>().DoubleValue();
            Require(env, layer_value >= 0 && layer_value < n_layer && std::floor(layer_value) == layer_value,
                    "E_LAYER_RANGE",
                    "layer " + std::to_string(layer_value) + " is out of range: the model has " + std::to_string(n_layer) +
                        " layers");
            iv.layer = static_cast<int32_t>(layer_value);
            iv.neurons = ReadArray<int32_t, napi_int32_array>(env, entry, "neurons", true);
            iv.scales = ReadArray<float, napi_float32_array>(env, entry, "scales", true);
            iv.token_mask = ReadArray<uint8_t, napi_uint8_array>(env, entry, "tokenMask", false);
            Require(env, iv.neurons.size() == iv.scales.size(), "E_ARGUMENT",
                    "evaluate: an intervention's neurons and scales differ in length");
            Require(env, iv.token_mask.empty() || static_cast<int64_t>(iv.token_mask.size()) == n_tokens, "E_ARGUMENT",
                    "evaluate: an intervention's tokenMask must have one byte per batch token");
            for (size_t k = 0; k < iv.neurons.size(); k++) {
                Require(env, iv.neurons[k] >= 0, "E_NEURON_RANGE",
                        "neuron " + std::to_string(iv.neurons[k]) + " of layer " + std::to_string(iv.layer) +
                            " is out of range");
                Require(env, std::isfinite(iv.scales[k]), "E_ARGUMENT", "evaluate: intervention scales must be finite");
            }
            r.interventions.push_back(std::move(iv));
        }
    }
    return r;
}

std::string StringOption(const Napi::Object & options, const char * key, const std::string & fallback) {
    Napi::Value value = options.Get(key);
    return value.IsString() ? value.As<Napi::String>().Utf8Value() : fallback;
}

double NumberOption(const Napi::Object & options, const char * key, double fallback) {
    Napi::Value value = options.Get(key);
    return value.IsNumber() ? value.As<Napi::Number>().DoubleValue() : fallback;
}

}  // namespace gd
