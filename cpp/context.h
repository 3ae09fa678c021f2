// An evaluation context: one llama_context plus the graph hook that reads and rewrites FFN activations.
// Every evaluate() is one llama_decode of many prompts (one sequence each), so the hook sees the whole
// batch in a single ubatch and a row of an activation tensor maps to a known (prompt, position).
#pragma once

#include <napi.h>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "llama.h"
#include "model.h"

namespace gd {

struct Intervention {
    int32_t layer = 0;
    std::vector<int32_t> neurons;
    std::vector<float> scales;
    std::vector<uint8_t> token_mask;  // one byte per batch token; empty = every token
};

struct EvalRequest {
    std::vector<llama_token> tokens;
    std::vector<int32_t> seq_starts;  // n_seq + 1 offsets into tokens
    std::vector<int32_t> outputs;     // sorted batch indices whose logits llama.cpp must keep
    std::vector<int32_t> target_rows;
    std::vector<int32_t> target_tokens;
    std::vector<int32_t> distribution_rows;
    std::vector<int32_t> capture_layers;
    std::vector<int32_t> capture_rows;
    std::vector<std::string> capture_names;  // any graph tensor by name, read at the output rows
    std::vector<Intervention> interventions;
    // Rows compared with reference log-prob rows instead of returned whole: a 128k vocabulary makes a
    // row half a megabyte, and KL over hundreds of positions per variant would not fit memory as rows.
    std::vector<int32_t> compare_rows;
    std::vector<int32_t> compare_reference_rows;  // row of `compare_reference` for each compare row
    std::vector<int32_t> compare_tokens;          // whose log-prob to report at each compare row
    const float * compare_reference = nullptr;    // JS-owned, kept alive by the worker: n × n_vocab log-probs
    size_t compare_reference_count = 0;           // rows in compare_reference
};

struct EvalResult {
    std::vector<float> target_logprobs;
    std::vector<float> distributions;
    std::vector<float> activations;  // [capture_rows][capture_layers][n_ff]
    int64_t n_ff = 0;
    std::vector<std::vector<float>> named;  // per capture_names entry: [outputs][ne0]
    std::vector<int64_t> named_width;
    std::vector<double> compare_kl;       // KL(reference ‖ this row)
    std::vector<uint8_t> compare_agree;   // 1 where both rows have the same most likely token
    std::vector<float> compare_logprob;   // log p(compare_tokens[i]) in this row
};

// State shared with the decode thread. The callback never calls N-API: it only reads the request and
// writes the result, and reports failures as strings.
struct Hook {
    std::string prefix;  // e.g. "ffn_swiglu-": llama.cpp names the tensor "<name>-<layer>"
    int32_t n_layer = 0;
    const EvalRequest * request = nullptr;
    EvalResult * result = nullptr;
    std::vector<int32_t> capture_slot;                             // per layer: index into capture_layers or -1
    std::vector<std::vector<const Intervention *>> interventions;  // per layer
    std::vector<uint8_t> wanted;                                   // per layer
    std::vector<uint8_t> seen;                                     // per layer, for the "not found" check
    std::vector<uint8_t> named_seen;                               // per capture name
    std::vector<int32_t> output_rank;                              // per batch token: rank among outputs or -1
    std::vector<float> scratch;                                    // for tensors outside host memory
    std::string error_code;
    std::string error;
};

struct ContextHandle {
    std::shared_ptr<ModelHandle> model;
    std::unique_ptr<Hook> hook;
    llama_context * ctx = nullptr;
    uint32_t n_batch = 0;
    uint32_t n_seq_max = 0;
    std::atomic<bool> busy{false};
    ~ContextHandle() {
        if (ctx != nullptr) {
            llama_free(ctx);
        }
    }
};

class Context : public Napi::ObjectWrap<Context> {
  public:
    static Napi::Function Define(Napi::Env env);
    static Napi::Value Create(const Napi::CallbackInfo & info, std::shared_ptr<ModelHandle> model);

    explicit Context(const Napi::CallbackInfo & info);
    void Attach(std::shared_ptr<ContextHandle> handle);

  private:
    Napi::Value Evaluate(const Napi::CallbackInfo & info);
    Napi::Value Dispose(const Napi::CallbackInfo & info);

    std::shared_ptr<ContextHandle> handle_;
};

}  // namespace gd
