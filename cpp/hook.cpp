// The graph hook: llama.cpp calls it for every tensor of a decode, on the decode thread. It rewrites
// the FFN activations of the intervened neurons in place and copies out what the request captures.
// Never N-API here: failures are kept as strings for the main thread.
#include "hook.h"

#include <cstring>
#include <string>

#include "ggml-backend.h"

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

}  // namespace

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

namespace {

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

}  // namespace
}  // namespace gd
