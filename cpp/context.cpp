#include "context.h"

#include <cmath>
#include <cstring>
#include <thread>

#include "addon.h"
#include "errors.h"
#include "ggml-backend.h"
#include "log.h"

namespace gd {
namespace {

// Returns the layer of an activation tensor named "<prefix><layer>", or -1.
int32_t LayerOf(const char * name, const std::string & prefix) {
    if (std::strncmp(name, prefix.c_str(), prefix.size()) != 0) {
        return -1;
    }
    const char * digits = name + prefix.size();
    if (*digits == '\0') {
        return -1;
    }
    int32_t layer = 0;
    for (const char * p = digits; *p != '\0'; p++) {
        if (*p < '0' || *p > '9' || layer > 1000000) {
            return -1;
        }
        layer = layer * 10 + (*p - '0');
    }
    return layer;
}

bool HookFail(Hook * hook, const char * code, std::string message) {
    if (hook->error.empty()) {
        hook->error_code = code;
        hook->error = std::move(message);
    }
    return false;  // aborts the graph computation
}

int32_t NamedSlot(const Hook & hook, const char * name) {
    const auto & names = hook.request->capture_names;
    for (size_t i = 0; i < names.size(); i++) {
        if (names[i] == name) {
            return static_cast<int32_t>(i);
        }
    }
    return -1;
}

// Copies the output rows of a named tensor (e.g. the final residual "l_out-31") into the result.
bool CaptureNamed(Hook * hook, ggml_tensor * t, int32_t slot) {
    const EvalRequest & request = *hook->request;
    const int64_t width = t->ne[0];
    const int64_t n_rows = t->ne[1];
    const auto n_tokens = static_cast<int64_t>(request.tokens.size());
    const auto n_outputs = static_cast<int64_t>(request.outputs.size());
    if (t->type != GGML_TYPE_F32 || t->ne[2] != 1 || t->ne[3] != 1 || !ggml_is_contiguous(t) ||
        (n_rows != n_tokens && n_rows != n_outputs)) {
        return HookFail(hook, "E_HOOK_TENSOR", std::string("the tensor ") + t->name + " cannot be read per token");
    }
    hook->named_seen[static_cast<size_t>(slot)] = 1;
    std::vector<float> & out = hook->result->named[static_cast<size_t>(slot)];
    hook->result->named_width[static_cast<size_t>(slot)] = width;
    out.resize(static_cast<size_t>(n_outputs * width));
    std::vector<float> rows;
    const float * data = static_cast<const float *>(t->data);
    if (t->buffer != nullptr && !ggml_backend_buffer_is_host(t->buffer)) {
        rows.resize(static_cast<size_t>(n_rows * width));
        ggml_backend_tensor_get(t, rows.data(), 0, ggml_nbytes(t));
        data = rows.data();
    }
    for (int64_t k = 0; k < n_outputs; k++) {
        int64_t r = n_rows == n_outputs ? k : request.outputs[static_cast<size_t>(k)];
        std::memcpy(&out[static_cast<size_t>(k * width)], data + r * width, static_cast<size_t>(width) * sizeof(float));
    }
    return true;
}

bool HookLayer(Hook * hook, ggml_tensor * t, int32_t layer);

bool HookCallback(ggml_tensor * t, bool ask, void * user_data) {
    auto * hook = static_cast<Hook *>(user_data);
    if (hook->request == nullptr) {
        return !ask;
    }
    int32_t named = hook->request->capture_names.empty() ? -1 : NamedSlot(*hook, t->name);
    int32_t layer = LayerOf(t->name, hook->prefix);
    bool wanted = layer >= 0 && layer < hook->n_layer && hook->wanted[layer];
    if (ask) {
        return wanted || named >= 0;
    }
    // Interventions first, so a tensor read by name shows what ffn_down really receives.
    if (wanted && !HookLayer(hook, t, layer)) {
        return false;
    }
    return named < 0 || CaptureNamed(hook, t, named);
}

bool HookLayer(Hook * hook, ggml_tensor * t, int32_t layer) {
    hook->seen[layer] = 1;
    const EvalRequest & request = *hook->request;
    const int64_t n_ff = t->ne[0];
    const int64_t n_rows = t->ne[1];
    const int64_t n_tokens = static_cast<int64_t>(request.tokens.size());
    const int64_t n_outputs = static_cast<int64_t>(request.outputs.size());
    if (t->type != GGML_TYPE_F32 || t->ne[2] != 1 || t->ne[3] != 1 || !ggml_is_contiguous(t)) {
        return HookFail(hook, "E_HOOK_TENSOR", std::string("the activation tensor ") + t->name +
                                                   " is not a contiguous 2-D F32 tensor; this model layout is not supported");
    }
    // In the last layer llama.cpp drops every row whose logits were not requested.
    bool all_rows = n_rows == n_tokens;
    if (!all_rows && n_rows != n_outputs) {
        return HookFail(hook, "E_HOOK_TENSOR", std::string("the activation tensor ") + t->name + " has " +
                                                   std::to_string(n_rows) + " rows for a batch of " +
                                                   std::to_string(n_tokens) + " tokens");
    }
    auto row_of = [&](int32_t token) -> int64_t { return all_rows ? token : hook->output_rank[token]; };

    float * data = nullptr;
    bool host = t->buffer == nullptr || ggml_backend_buffer_is_host(t->buffer);
    if (host) {
        data = static_cast<float *>(t->data);
    } else {
        hook->scratch.resize(static_cast<size_t>(n_ff * n_rows));
        ggml_backend_tensor_get(t, hook->scratch.data(), 0, ggml_nbytes(t));
        data = hook->scratch.data();
    }

    const auto & interventions = hook->interventions[layer];
    for (const Intervention * iv : interventions) {
        for (int32_t neuron : iv->neurons) {
            if (neuron >= n_ff) {
                return HookFail(hook, "E_NEURON_RANGE", "neuron " + std::to_string(neuron) + " of layer " +
                                                            std::to_string(layer) + " is out of range: the layer has " +
                                                            std::to_string(n_ff) + " FFN neurons");
            }
        }
        for (int64_t r = 0; r < n_rows; r++) {
            int32_t token = all_rows ? static_cast<int32_t>(r) : request.outputs[static_cast<size_t>(r)];
            if (!iv->token_mask.empty() && iv->token_mask[static_cast<size_t>(token)] == 0) {
                continue;
            }
            float * row = data + r * n_ff;
            for (size_t k = 0; k < iv->neurons.size(); k++) {
                // An exact zero, even where the activation is not finite: zeroing must mean "absent".
                row[iv->neurons[k]] = iv->scales[k] == 0.0f ? 0.0f : row[iv->neurons[k]] * iv->scales[k];
            }
        }
    }
    if (!interventions.empty() && !host) {
        ggml_backend_tensor_set(t, data, 0, ggml_nbytes(t));
    }

    int32_t slot = hook->capture_slot[layer];
    if (slot >= 0) {
        EvalResult & result = *hook->result;
        const size_t n_layers = request.capture_layers.size();
        if (result.n_ff == 0) {
            result.n_ff = n_ff;
            result.activations.assign(request.capture_rows.size() * n_layers * static_cast<size_t>(n_ff), 0.0f);
        } else if (result.n_ff != n_ff) {
            return HookFail(hook, "E_HOOK_TENSOR", "layers of this model have different FFN sizes; capture them separately");
        }
        for (size_t k = 0; k < request.capture_rows.size(); k++) {
            int64_t r = row_of(request.capture_rows[k]);
            if (r < 0) {
                return HookFail(hook, "E_CAPTURE_ROW", "capture row " + std::to_string(request.capture_rows[k]) +
                                                           " in the last layer needs its logits requested");
            }
            std::memcpy(&result.activations[(k * n_layers + static_cast<size_t>(slot)) * static_cast<size_t>(n_ff)],
                        data + r * n_ff, static_cast<size_t>(n_ff) * sizeof(float));
        }
    }
    return true;
}

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
