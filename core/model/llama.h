// LLaMA forward and backward, written out explicitly (no tape): each block is a short sequence
// of kernel calls over named activation slots that the backward reads in reverse. With a
// tensor-parallel group, each rank runs its heads and its slice of the MLP (Megatron layout).
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "core/base/buffer.h"
#include "core/model/llama_params.h"
#include "dist/communicator.h"

namespace dqt {

// Saved activations of one block for a (batch, seq) micro-batch of N = batch*seq tokens.
struct LayerActivations {
  Buffer<float> x_in;      // (N, d) residual stream entering the block
  Buffer<float> rstd_in;   // (N)
  Buffer<float> xn_in;     // (N, d) normed input of q/k/v
  Buffer<float> q, k, v;   // (N, H*hd), (N, Hkv*hd) x2, after RoPE for q and k
  Buffer<float> probs;     // (B, H, T, T)
  Buffer<float> att;       // (N, H*hd) attention output (input of o_proj, or of SubLN)
  Buffer<float> rstd_att;  // (N) SubLN only
  Buffer<float> att_n;     // (N, H*hd) SubLN only
  Buffer<float> x_mid;     // (N, d) residual after attention
  Buffer<float> rstd_mid;  // (N)
  Buffer<float> xn_mid;    // (N, d) normed input of gate/up
  Buffer<float> gate, up;  // (N, ffn)
  Buffer<float> h;         // (N, ffn) silu(gate) * up
  Buffer<float> rstd_h;    // (N) SubLN only
  Buffer<float> h_n;       // (N, ffn) SubLN only
};

// The tensors of one block (null where SubLN is off).
struct LayerTensors {
  const ParamTensor *input_norm, *wq, *wk, *wv, *attn_subln, *wo, *post_norm, *wgate, *wup,
      *ffn_subln, *wdown;
};

class LlamaModel {
 public:
  // `tp` (not owned, may be null for one rank) is the tensor-parallel group: q/k/v and gate/up
  // are column-parallel, o and down row-parallel, their partial outputs (and the input gradients
  // of the column-parallel ones) are summed over the group, and the per-token absmax of a
  // sharded quantized input is MAX-reduced over it. Embedding, norms and head are replicated.
  explicit LlamaModel(const LlamaConfig& config, Communicator* tp = nullptr);

  LlamaParams& params() { return params_; }
  const LlamaParams& params() const { return params_; }
  const LlamaConfig& config() const { return params_.config(); }

  // One micro-batch: forward, loss, backward. inputs/targets (batch, seq); targets < 0 ignored.
  // Gradients of loss_scale * sum(token losses) are ADDED to params().grads().
  // Returns the sum of token losses and sets *count to the number of scored tokens.
  double ForwardBackward(const int32_t* inputs, const int32_t* targets, int batch, int seq,
                         float loss_scale, int64_t* count);

  // Forward only: sum of token losses over scored targets (count in *count).
  double ForwardLoss(const int32_t* inputs, const int32_t* targets, int batch, int seq,
                     int64_t* count);

  // Forward of one sequence; writes the logits (vocab) of its last position.
  void LastLogits(const int32_t* tokens, int seq, float* logits);

  // The first tensor-parallel collective error since the last call (OK if none), and clears it.
  // After an error the model skips its remaining collectives, so the results of that call are
  // meaningless: callers with a TP group check this after each call.
  [[nodiscard]] absl::Status TakeCommStatus() { return std::exchange(comm_status_, {}); }

 private:
  void Reserve(int batch, int seq);
  void Forward(const int32_t* inputs, int batch, int seq);
  // Head + cross-entropy in row chunks (bounded memory); with loss_scale != 0 also writes
  // d(final hidden) into grad_x_ and accumulates the head gradient.
  double HeadLoss(const int32_t* targets, int64_t n, float loss_scale, int64_t* count);
  void Backward(const int32_t* inputs, int batch, int seq);

  // fp32 weights of `t` for one kernel call (valid until the next W call).
  const float* W(const ParamTensor* t) { return params_.Weights(*t, weight_scratch_.data()); }
  float* G(const ParamTensor* t) { return params_.grads().data() + t->offset; }
  // Per-token int8 fake quantization of a quantized linear's input, in place (STE backward);
  // `sharded`: the columns are this rank's share of each row, so the absmax is MAX-reduced.
  void QuantizeInput(float* x, int64_t rows, int cols, bool sharded = false);
  // Sums a partial result over the tensor-parallel group (no-op for one rank).
  void TpSum(float* x, int64_t n);

  Communicator* tp_;          // null for one rank
  absl::Status comm_status_;  // first TP collective error (see TakeCommStatus)
  LlamaParams params_;
  int heads_, kv_heads_, ffn_;  // this rank's attention heads, kv heads and MLP width
  const ParamTensor* embed_;
  std::vector<LayerTensors> layers_;
  const ParamTensor* final_norm_;
  const ParamTensor* head_;
  bool quantize_head_input_ = false;  // int8 activations and the head is quantized (policy all)
  Buffer<float> weight_scratch_;      // dequantized / ternarized weights of one tensor
  Buffer<float> rope_;                // cos/sin table (2, context, hd/2)
  int batch_ = 0, seq_ = 0;
  std::vector<LayerActivations> acts_;
  Buffer<float> x_final_, rstd_final_, xn_final_;  // (N, d), (N), (N, d)
  Buffer<float> logits_, losses_;                  // (chunk, V), (chunk)
  Buffer<float> row_absmax_;                       // (N) for sharded activation quantization
  // Backward scratch.
  Buffer<float> grad_x_, grad_tmp_, grad_tmp2_, grad_q_, grad_k_, grad_v_, grad_att_, grad_h_,
      grad_gate_, grad_up_, grad_ffn_tmp_;
};

}  // namespace dqt
