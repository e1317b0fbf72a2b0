// LLaMA forward and backward, written out explicitly (no tape): each block is a short sequence
// of op calls over named activation slots that the backward reads in reverse. The same code runs
// on the CPU or on CUDA: every op goes through a dispatcher with the model's ExecContext, and
// every buffer lives on that device. With a tensor-parallel group, each rank runs its heads and
// its slice of the MLP (Megatron layout).
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "core/base/buffer.h"
#include "core/base/device.h"
#include "core/base/tensor.h"
#include "core/model/llama_params.h"
#include "dist/communicator.h"
#include "kernels/linear.h"  // Accumulate

namespace dqt {

// Saved activations of one block for a micro-batch of N = batch * seq tokens; dtype: the model's
// activation dtype, statistics (rstd) f32. Inputs of quantized linears hold their fake-quantized
// values (the forward quantizes them in place), which is what dW = dY^T X_hat needs.
struct LayerActivations {
  Tensor rstd_in;    // (N) f32
  Tensor xn_in;      // (N, d) normed input of q/k/v
  Tensor q, k, v;    // (B, T, H, hd), (B, T, Hkv, hd) x2, after RoPE for q and k
  Tensor att_saved;  // f32, AttentionSavedElements: weights (CPU) or log-sum-exp (CUDA)
  Tensor att;        // (N, H*hd) attention output (input of o_proj, or of SubLN)
  Tensor rstd_att;   // (N) SubLN only
  Tensor att_n;      // (N, H*hd) SubLN only
  Tensor x_mid;      // (N, d) residual after attention
  Tensor rstd_mid;   // (N)
  Tensor xn_mid;     // (N, d) normed input of gate/up
  Tensor gate, up;   // (N, ffn)
  Tensor h;          // (N, ffn) silu(gate) * up
  Tensor rstd_h;     // (N) SubLN only
  Tensor h_n;        // (N, ffn) SubLN only
};

// Gradient slots of one block's backward, shared by every block (the backward visits one block
// at a time); each is named after the activation it is the gradient of.
struct BlockGradients {
  Tensor d_down_in;     // (N, ffn) d(input of down_proj)
  Tensor d_h;           // (N, ffn) d(silu(gate) * up), SubLN only (else d_down_in is it)
  Tensor d_gate, d_up;  // (N, ffn)
  Tensor d_xn;          // (N, d) d(normed input) of q/k/v or of gate/up
  Tensor d_norm_in;     // (N, d) d(residual) through an RMSNorm, added to the residual gradient
  Tensor d_o_in;        // (N, H*hd) d(input of o_proj)
  Tensor d_att;         // (N, H*hd) d(attention output), SubLN only (else d_o_in is it)
  Tensor d_q;           // (B, T, H, hd)
  Tensor d_k, d_v;      // (B, T, Hkv, hd)
};

// The tensors of one block (null where SubLN is off).
struct LayerTensors {
  const ParamTensor *input_norm, *wq, *wk, *wv, *attn_subln, *wo, *post_norm, *wgate, *wup,
      *ffn_subln, *wdown;
};

// What one LlamaModel charges to its device's memory ledger, in bytes, from its config alone
// (nothing is allocated): the parameter layout is PlanParamLayout's, and the activation and
// scratch sizes are those LlamaModel's constructor, Reserve(batch, seq), HeadScratch and
// ForwardLogits allocate (tests/train/memory_estimate_test.cc holds them to the ledger).
struct ModelMemoryArgs {
  LlamaConfig config;
  TpShard tp;
  Device device = Device::kCpu;
  DType activations = DType::kF32;
  Recompute recompute = Recompute::kNo;
  GradientStorage gradients = GradientStorage::kFull;
  int batch = 1, seq = 1;      // the micro-batch the model runs
  bool head_loss = true;       // runs the LM head and loss in chunks (ForwardBackward, ForwardLoss)
  bool all_logits = false;     // runs ForwardLogits (a logit distillation teacher)
  bool logit_distill = false;  // a logit distillation student (the KD gradient chunk)
  bool feature_distill = false;  // an OFF student
};
struct ModelMemoryPlan {
  double weights = 0;         // values, codes, scales
  double gradients = 0;       // the gradient buffer, or the fused update's slot
  double activations = 0;     // Reserve's saved activations and backward slots
  double workspace = 0;       // scratch held from construction on
  double step_workspace = 0;  // scratch held from the first forward on (Reserve, the head)
  double init_workspace = 0;  // scratch held only while the weights are set (Init, init_from)
};
ModelMemoryPlan PlanModelMemory(const ModelMemoryArgs& args);

class LlamaModel {
 public:
  // Elements of the GEMM-weight scratch a tensor of codes may fill at once (16 MiB in fp32): it
  // holds every block matrix of llama-134m whole, while larger tensors (the embedding and head
  // under policy ALL, the block matrices of llama-1.3b) are dequantized by tiles (see Tiled).
  static constexpr int64_t kWeightTileElements = int64_t{1} << 22;
  // Whether `t` (codes larger than the scratch's budget) is dequantized a tile at a time: rows
  // of W (output features) in the forward, columns (input features) for dx, so every GEMM keeps
  // its whole reduction. The tiles hold the whole tensor's values exactly, but the products equal
  // the untiled ones only up to rounding: OpenBLAS (0.3.21 measured) picks its kernels and
  // blocking by a GEMM's width, so a narrower product can differ in the last bits. Tensors within
  // the budget (every tensor of the golden runs) are multiplied whole, as before.
  static bool Tiled(const ParamTensor* t) {
    return t->storage == ParamStorage::kCodes && t->numel > kWeightTileElements;
  }
  // Rows of W per forward tile and columns per backward tile of a Tiled() tensor.
  static int64_t TileRows(const ParamTensor* t) {
    return std::max<int64_t>(1, kWeightTileElements / t->shape[1]);
  }
  static int64_t TileCols(const ParamTensor* t) {
    return std::max<int64_t>(1, kWeightTileElements / t->shape[0]);
  }

  // `tp` (not owned, may be null for one rank) is the tensor-parallel group: q/k/v and gate/up
  // are column-parallel, o and down row-parallel, their partial outputs (and the input gradients
  // of the column-parallel ones) are summed over the group, and the per-token absmax of a
  // sharded quantized input is MAX-reduced over it. Embedding, norms and head are replicated.
  // Parameters and activations live on ctx's device; `activations` is the activation dtype (f32;
  // bf16 on CUDA).
  explicit LlamaModel(const LlamaConfig& config, Communicator* tp = nullptr,
                      ExecContext ctx = ExecContext::Cpu(), DType activations = DType::kF32,
                      Recompute recompute = Recompute::kNo,
                      GradientStorage gradients = GradientStorage::kFull);

  // The fused update: with a sink set, each parameter's gradient of a ForwardBackward goes, as
  // soon as it is complete, to sink(tensor, gradient) instead of params().grads() (a scratch slot
  // reused for the next tensor; the sink may scale it in place). Needs one micro-batch per step:
  // nothing accumulates across calls. Null: gradients are ADDED to params().grads().
  using GradientSink = std::function<void(const ParamTensor&, const TensorRef&)>;
  void SetGradientSink(GradientSink sink) { sink_ = std::move(sink); }

  LlamaParams& params() { return params_; }
  const LlamaParams& params() const { return params_; }
  // Bytes of the GEMM-weight scratch (dequantized weights, MemoryKind::kWorkspace).
  int64_t weight_scratch_bytes() const {
    return gemm_weights_.ref().empty() ? 0 : static_cast<int64_t>(gemm_weights_.ref().bytes());
  }
  const LlamaConfig& config() const { return params_.config(); }
  const ExecContext& context() const { return ctx_; }
  DType activations() const { return act_; }

  // One micro-batch: forward, loss, backward. inputs/targets (batch, seq) in host memory;
  // targets < 0 ignored. Gradients of loss_scale * sum(token losses) are ADDED to
  // params().grads(). Returns the sum of token losses and sets *count to the number of scored
  // tokens (the one value read back from the device).
  double ForwardBackward(const int32_t* inputs, const int32_t* targets, int batch, int seq,
                         float loss_scale, int64_t* count);

  // Forward only: sum of token losses over scored targets (count in *count).
  double ForwardLoss(const int32_t* inputs, const int32_t* targets, int batch, int seq,
                     int64_t* count);

  // Forward through the blocks only (no head, no loss): a distillation teacher's side.
  void ForwardBlocks(const int32_t* inputs, int batch, int seq) { Forward(inputs, batch, seq); }
  // The output of block l (the residual stream after it) of the last forward: (N, d), valid until
  // the next forward.
  TensorRef BlockOutput(int l) const;

  // OFF feature distillation (TernaryLLM, ALGORITHMS.md 5): while `teacher` is set (not owned;
  // null turns it off), each ForwardBackward adds weight * sum over `layers` and tokens of
  // (1 - cos(BlockOutput(l), teacher->BlockOutput(l))) to the loss it differentiates; the teacher
  // must have run ForwardBlocks on the same inputs. off_loss_sum() is the last call's sum of
  // (1 - cos) over those layers and tokens (unweighted).
  void SetFeatureDistillation(const LlamaModel* teacher, std::vector<int> layers, float weight);
  double off_loss_sum() const { return off_loss_sum_; }

  // Forward through the blocks, the final norm and the LM head over every token: a logit
  // distillation teacher's side. Logits() is the (N, vocab) result (activation dtype), valid until
  // the next ForwardLogits.
  void ForwardLogits(const int32_t* inputs, int batch, int seq);
  TensorRef Logits() const { return all_logits_.ref(); }

  // Logit distillation (TernaryLLM, ALGORITHMS.md 5): while `teacher` is set (not owned; null
  // turns it off), each ForwardBackward adds weight * sum over tokens of
  // KL(softmax(teacher logits) || softmax(student logits)) to the loss it differentiates; the
  // teacher must have run ForwardLogits on the same inputs. kd_loss_sum() is the last call's
  // unweighted KL sum. ForwardLoss (evaluation) ignores it.
  void SetLogitDistillation(const LlamaModel* teacher, float weight);
  double kd_loss_sum() const { return kd_loss_sum_; }

  // Forward of one sequence; writes the logits (vocab) of its last position to host memory.
  void LastLogits(const int32_t* tokens, int seq, float* logits);

  // The first tensor-parallel collective error since the last call (OK if none), and clears it.
  // After an error the model skips its remaining collectives, so the results of that call are
  // meaningless: callers with a TP group check this after each call.
  [[nodiscard]] absl::Status TakeCommStatus() { return std::exchange(comm_status_, {}); }

 private:
  void Reserve(int batch, int seq);
  // Rows [0, rows) of the head's chunk of logits, allocated on first use after a Reserve: a model
  // that only runs ForwardBlocks or ForwardLogits (a distillation teacher) never holds it.
  TensorRef HeadScratch(int64_t rows);
  void Forward(const int32_t* inputs, int batch, int seq);
  void BlockForward(int l, const TensorRef& x_out);
  // Saved activations of block l (the one shared slot under per-block recomputation).
  LayerActivations& Acts(int l) { return acts_[recompute_ == Recompute::kPerBlock ? 0 : l]; }
  // Head + cross-entropy in row chunks (bounded memory); with loss_scale != 0 also writes
  // d(final normed hidden) into d_xn_final_ and accumulates the head gradient.
  double HeadLoss(const int32_t* targets, int64_t n, float loss_scale, int64_t* count);
  void Backward();

  // Weights of `t` for a GEMM (activation dtype) or as an RMSNorm gain (f32); valid until the
  // next call of the same function. Not for a Tiled() tensor.
  TensorRef W(const ParamTensor* t) {
    DQT_CHECK(!Tiled(t)) << t->name << " is dequantized by tiles";
    return params_.Weights(*t, gemm_weights_);
  }
  // dx = dy W (or += with Accumulate::kYes; skipped when dx is empty) and dw += dy^T x (skipped
  // when dw is empty), for the linear `t`: by column tiles of W when t is Tiled().
  void LinearBackwardOf(const ParamTensor* t, const TensorRef& x, const TensorRef& dy,
                        const TensorRef& dx, const TensorRef& dw,
                        Accumulate dx_mode = Accumulate::kNo);
  TensorRef Gain(const ParamTensor* t) { return params_.Weights(*t, gain_weights_); }
  // Where t's gradient accumulates: its place in params().grads(), or the sink's slot. Begin
  // opens t's gradient (zeroes the slot), Done hands it to the sink (no-ops without a sink).
  TensorRef G(const ParamTensor* t);
  void Begin(const ParamTensor* t);
  void Done(const ParamTensor* t);
  // dx = dy W (or += with Accumulate::kYes) and t's gradient dy^T x, for the linear `t`.
  void LinearGrad(const TensorRef& x, const ParamTensor* t, const TensorRef& dy,
                  const TensorRef& dx, Accumulate dx_mode = Accumulate::kNo);
  // dx through the RMSNorm of gain `t`, and t's gradient.
  void NormGrad(const TensorRef& x, const ParamTensor* t, const TensorRef& rstd,
                const TensorRef& dy, const TensorRef& dx);
  // y = x W^T for the linear `t`: in float, or for DQT code tensors with QuantGemm INT8 / FP8 by
  // quantizing x per token and multiplying codes.
  void Linear(const TensorRef& x, const ParamTensor* t, const TensorRef& y);
  // Per-token int8 fake quantization of a quantized linear's input, in place (STE backward);
  // `sharded`: the columns are this rank's share of each row, so the absmax is MAX-reduced.
  void QuantizeInput(const TensorRef& x, bool sharded = false);
  // Sums a partial result over the tensor-parallel group (no-op for one rank).
  void TpSum(const TensorRef& x);

  Communicator* tp_;          // null for one rank
  absl::Status comm_status_;  // first TP collective error (see TakeCommStatus)
  ExecContext ctx_;
  DType act_;  // activation dtype
  Recompute recompute_;
  LlamaParams params_;
  int heads_, kv_heads_, ffn_;  // this rank's attention heads, kv heads and MLP width
  const ParamTensor* embed_;
  std::vector<LayerTensors> layers_;
  const ParamTensor* final_norm_;
  const ParamTensor* head_;
  bool quantize_head_input_ = false;  // int8 activations and the head is quantized (policy all)
  // Activation dtype: dequantized / ternarized weights of one tensor, or one tile of a Tiled()
  // tensor: at most kWeightTileElements for codes, the whole tensor for other storages.
  Tensor gemm_weights_;
  Tensor gain_weights_;  // (max norm size) f32: dequantized norm gains (policy all)
  Tensor rope_;          // (2, context, hd/2) f32 cos/sin table
  int batch_ = 0, seq_ = 0;
  Tensor ids_, targets_;                // (N) i32 on the device
  std::vector<Tensor> block_inputs_;    // (N, d) residual stream entering each block
  std::vector<LayerActivations> acts_;  // one per block, or one shared (per-block recompute)
  GradientSink sink_;
  const LlamaModel* teacher_ = nullptr;  // OFF: the frozen teacher (not owned), or none
  std::vector<int> off_layers_;
  float off_weight_ = 0;
  double off_loss_sum_ = 0;
  Tensor off_total_;                        // (1) f64
  const LlamaModel* kd_teacher_ = nullptr;  // logit distillation's teacher (not owned), or none
  float kd_weight_ = 0;
  double kd_loss_sum_ = 0;
  Tensor kd_total_;       // (1) f64
  Tensor kd_grad_;        // (head chunk, vocab): the KD gradient of one chunk of logits
  Tensor all_logits_;     // (N, vocab): ForwardLogits' result
  Tensor grad_slot_;      // (max tensor numel) f32: the fused update's gradient scratch
  Tensor recompute_out_;  // (N, d) where a recomputed block writes its output
  Tensor x_final_, rstd_final_, xn_final_;  // (N, d), (N), (N, d)
  Tensor logits_, losses_;                  // (chunk, V), (chunk) f32
  Tensor loss_totals_;                      // (2) f64: sum of losses, scored tokens
  Tensor row_absmax_;                       // (N) f32 for sharded activation quantization
  Tensor act_codes_, act_scales_;           // (N, max in) i8 / e4m3 and (N) f32: INT8 / FP8
  Tensor weight_codes_fp8_;                 // (max tensor numel) e4m3: codes for the FP8 GEMM
  Tensor dlt_grad_;                         // (max DLT tensor numel) f32: dL/dW_hat of one
  // Backward.
  Tensor d_xn_final_;  // (N, d) d(final normed hidden), from the head
  Tensor d_resid_;     // (N, d) d(residual stream) at the current block boundary
  BlockGradients grads_;
};

}  // namespace dqt
