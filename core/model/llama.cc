// LLaMA forward/backward over the op dispatchers (ALGORITHMS.md section 1, optional SubLN).
#include "core/model/llama.h"

#include <algorithm>

#include "core/base/check.h"
#include "kernels/act_quant.h"
#include "kernels/attention.h"
#include "kernels/cross_entropy.h"
#include "kernels/dlt.h"
#include "kernels/embedding.h"
#include "kernels/feature_distill.h"
#include "kernels/linear.h"
#include "kernels/logit_distill.h"
#include "kernels/residual.h"
#include "kernels/rmsnorm.h"
#include "kernels/rope.h"
#include "kernels/swiglu.h"
#include "kernels/weights.h"

namespace dqt {
namespace {

constexpr int64_t kHeadChunkRows = 512;  // rows of logits alive at once: bounds head memory

// `x` (B, T, H, hd) as the (rows, H * hd) matrix of its tokens.
TensorRef Rows(const TensorRef& x, int64_t rows) { return x.Reshaped({rows, x.numel() / rows}); }

// `x` with the shape of `like` (same element count).
TensorRef ShapedLike(const TensorRef& x, const TensorRef& like) {
  TensorRef r = x;
  r.rank = like.rank;
  for (int i = 0; i < like.rank; ++i) r.shape[i] = like.shape[i];
  DQT_CHECK(r.numel() == x.numel()) << "a view of " << x.numel() << " as " << like.ShapeString();
  return r;
}

TpShard ShardOf(const Communicator* tp) {
  return tp != nullptr ? TpShard{tp->size(), tp->rank()} : TpShard{};
}

// Elements of the weight scratches: GEMM operands (activation dtype) unless every tensor is fp32
// values used as they are, norm gains (f32) and one DLT tensor's dL/dW_hat (f32).
struct WeightScratch {
  int64_t gemm = 0, gain = 0, dlt = 0;
};
WeightScratch WeightScratchOf(const std::vector<ParamTensor>& tensors, DType act) {
  WeightScratch s;
  for (const ParamTensor& p : tensors) {
    if (p.storage == ParamStorage::kDltLatent) s.dlt = std::max(s.dlt, p.numel);
    const bool gain = p.kind == ParamKind::kNorm;
    const bool copy = p.storage != ParamStorage::kFloat || (!gain && act != DType::kF32);
    if (!copy) continue;
    if (gain) {
      s.gain = std::max(s.gain, p.numel);
    } else if (LlamaModel::Tiled(&p)) {
      // The widest forward tile (rows of W) or backward tile (columns of W).
      s.gemm = std::max(
          {s.gemm, LlamaModel::TileRows(&p) * p.shape[1], LlamaModel::TileCols(&p) * p.shape[0]});
    } else {
      s.gemm = std::max(s.gemm, p.numel);
    }
  }
  return s;
}

}  // namespace

LlamaModel::LlamaModel(const LlamaConfig& config, Communicator* tp, ExecContext ctx,
                       DType activations, Recompute recompute, GradientStorage gradients)
    : tp_(tp != nullptr && tp->size() > 1 ? tp : nullptr),
      ctx_(ctx),
      act_(activations),
      recompute_(recompute),
      params_(config, ShardOf(tp), ctx, gradients),
      heads_(config.n_heads / params_.tp().size),
      kv_heads_(config.n_kv_heads / params_.tp().size),
      ffn_(config.ffn_dim / params_.tp().size) {
  DQT_CHECK(tp_ == nullptr || !config.subln) << "tensor parallelism does not support SubLN";
  DQT_CHECK(act_ == DType::kF32 || (act_ == DType::kBF16 && ctx.is_cuda()))
      << "activations are f32, or bf16 on CUDA";
  DQT_CHECK(tp_ == nullptr || act_ == DType::kF32)
      << "tensor parallelism sums activations in f32: use f32 activations";
  const std::vector<ParamTensor>& t = params_.tensors();
  size_t next = 0;
  auto take = [&]() { return &t[next++]; };
  embed_ = take();
  for (int i = 0; i < config.n_layers; ++i) {
    LayerTensors l{};
    l.input_norm = take();
    l.wq = take();
    l.wk = take();
    l.wv = take();
    l.attn_subln = config.subln ? take() : nullptr;
    l.wo = take();
    l.post_norm = take();
    l.wgate = take();
    l.wup = take();
    l.ffn_subln = config.subln ? take() : nullptr;
    l.wdown = take();
    layers_.push_back(l);
  }
  final_norm_ = take();
  head_ = take();
  const WeightScratch scratch = WeightScratchOf(t, act_);
  const Device dev = ctx.device();
  if (scratch.gemm > 0) gemm_weights_ = Tensor({scratch.gemm}, act_, dev, MemoryKind::kWorkspace);
  if (scratch.gain > 0)
    gain_weights_ = Tensor({scratch.gain}, DType::kF32, dev, MemoryKind::kWorkspace);
  if (scratch.dlt > 0) dlt_grad_ = Tensor({scratch.dlt}, DType::kF32, dev, MemoryKind::kWorkspace);
  const QuantConfig& q = config.quant;
  // The LM head's input is quantized when the head is (policy ALL); an inference model holding
  // fp32 forward weights of such a checkpoint keeps the policy, and so computes the same.
  quantize_head_input_ = q.int8_activations && q.policy == QuantPolicy::kAll;
  if (q.forward_gemm == QuantGemm::kFp8 && params_.has_codes()) {
    weight_codes_fp8_ =
        Tensor({params_.max_tensor_numel()}, DType::kF8E4M3, dev, MemoryKind::kWorkspace);
  }
  const int hd = config.head_dim();
  Buffer<float> table(2 * static_cast<size_t>(config.context) * (hd / 2), MemoryKind::kWorkspace);
  RopeTable(config.context, hd, config.rope_theta, table.data());
  rope_ = Tensor({2, config.context, hd / 2}, DType::kF32, dev, MemoryKind::kWorkspace);
  CopyBytes(rope_.ref().data, dev, table.data(), Device::kCpu, table.bytes(), ctx.stream());
  loss_totals_ = Tensor({2}, DType::kF64, dev, MemoryKind::kWorkspace);
  if (gradients == GradientStorage::kNone) {
    grad_slot_ = Tensor({params_.max_tensor_numel()}, DType::kF32, dev, MemoryKind::kGradients);
  }
}

TensorRef LlamaModel::G(const ParamTensor* t) {
  if (!sink_) return params_.grad_ref(*t);
  TensorRef g = grad_slot_.ref().Flat(0, t->numel);
  g.rank = static_cast<int>(t->shape.size());
  for (int i = 0; i < g.rank; ++i) g.shape[i] = t->shape[i];
  return g;
}

void LlamaModel::Begin(const ParamTensor* t) {
  if (sink_) ZeroOn(ctx_.device(), G(t).data, t->numel * sizeof(float), ctx_.stream());
}

void LlamaModel::Done(const ParamTensor* t) {
  if (sink_) sink_(*t, G(t));
}

void LlamaModel::Reserve(int batch, int seq) {
  if (batch == batch_ && seq == seq_) return;
  const LlamaConfig& c = config();
  DQT_CHECK(seq >= 1 && seq <= c.context) << "seq " << seq << " outside [1, " << c.context << "]";
  batch_ = batch;
  seq_ = seq;
  // The previous shape's buffers go first, so that a change of shape (the last, shorter batch of
  // an evaluation) never holds both: the peak is the larger shape's (PlanModelMemory's figure).
  for (Tensor* t :
       {&ids_, &targets_, &x_final_, &recompute_out_, &rstd_final_, &xn_final_, &logits_, &losses_,
        &row_absmax_, &act_codes_, &act_scales_, &d_xn_final_, &d_resid_}) {
    *t = Tensor();
  }
  block_inputs_.clear();
  acts_.clear();
  grads_ = BlockGradients{};
  const int64_t n = static_cast<int64_t>(batch) * seq, d = c.d_model, f = ffn_, hd = c.head_dim();
  const int64_t qd = heads_ * hd;
  const Device dev = ctx_.device();
  const AttentionShape shape{batch, seq, heads_, kv_heads_, c.head_dim()};
  auto act = [&](std::initializer_list<int64_t> dims) {
    return Tensor(dims, act_, dev, MemoryKind::kActivations);
  };
  auto f32 = [&](std::initializer_list<int64_t> dims) {
    return Tensor(dims, DType::kF32, dev, MemoryKind::kActivations);
  };
  ids_ = Tensor({n}, DType::kI32, dev, MemoryKind::kActivations);
  targets_ = Tensor({n}, DType::kI32, dev, MemoryKind::kActivations);
  // Block inputs for every layer; the rest of a block's activations for every layer, or (per-block
  // recomputation) for one block at a time.
  block_inputs_.clear();
  for (int l = 0; l < c.n_layers; ++l) block_inputs_.push_back(act({n, d}));
  acts_.clear();
  acts_.resize(recompute_ == Recompute::kPerBlock ? 1 : c.n_layers);
  for (LayerActivations& a : acts_) {
    a.rstd_in = f32({n});
    a.xn_in = act({n, d});
    a.q = act({batch, seq, heads_, hd});
    a.k = act({batch, seq, kv_heads_, hd});
    a.v = act({batch, seq, kv_heads_, hd});
    a.att_saved = f32({AttentionSavedElements(dev, shape)});
    a.att = act({n, qd});
    a.x_mid = act({n, d});
    a.rstd_mid = f32({n});
    a.xn_mid = act({n, d});
    a.gate = act({n, f});
    a.up = act({n, f});
    a.h = act({n, f});
    if (c.subln) {
      a.rstd_att = f32({n});
      a.att_n = act({n, qd});
      a.rstd_h = f32({n});
      a.h_n = act({n, f});
    }
  }
  x_final_ = act({n, d});
  // A recomputed block's output is not needed again (the next block's input is kept).
  recompute_out_ = recompute_ == Recompute::kPerBlock ? act({n, d}) : Tensor();
  rstd_final_ = f32({n});
  xn_final_ = act({n, d});
  logits_ = Tensor();  // HeadScratch allocates it for the new shape
  losses_ = f32({std::min<int64_t>(n, kHeadChunkRows)});
  row_absmax_ = tp_ != nullptr ? Tensor({n}, DType::kF32, dev, MemoryKind::kWorkspace) : Tensor();
  const QuantGemm gemm = c.quant.forward_gemm;
  if (gemm != QuantGemm::kFloat && params_.has_codes()) {
    const int64_t widest = std::max({d, qd, f});
    act_codes_ = Tensor({n * widest}, gemm == QuantGemm::kInt8 ? DType::kI8 : DType::kF8E4M3, dev,
                        MemoryKind::kWorkspace);
    act_scales_ = Tensor({n}, DType::kF32, dev, MemoryKind::kWorkspace);
  }
  d_xn_final_ = act({n, d});
  d_resid_ = act({n, d});
  BlockGradients& g = grads_;
  g.d_down_in = act({n, f});
  g.d_h = c.subln ? act({n, f}) : Tensor();
  g.d_gate = act({n, f});
  g.d_up = act({n, f});
  g.d_xn = act({n, d});
  g.d_norm_in = act({n, d});
  g.d_o_in = act({n, qd});
  g.d_att = c.subln ? act({n, qd}) : Tensor();
  g.d_q = act({batch, seq, heads_, hd});
  g.d_k = act({batch, seq, kv_heads_, hd});
  g.d_v = act({batch, seq, kv_heads_, hd});
}

void LlamaModel::Linear(const TensorRef& x, const ParamTensor* t, const TensorRef& y) {
  // Under block activation rounding (the deployed llama.cpp function) a last-bit difference in a
  // product can become another int8 code downstream, so every row is computed alone: the same
  // bits whatever the thread count and sequence length (dqt_generate = the in-process model).
  const bool row_by_row = config().quant.activation_block > 0;
  if (t->storage == ParamStorage::kDltLatent) {
    // The kernel form y = alpha_g (T_g x_g) + gamma_g sum(x_g); T in the GEMM scratch.
    const TensorRef ternary =
        ShapedLike(gemm_weights_.ref().Flat(0, t->numel), params_.values_ref(*t));
    DltTernary(ctx_, {.w = params_.values_ref(*t), .group = t->dlt_group, .t = ternary});
    DltLinearForward(ctx_, {.x = x,
                            .t = ternary,
                            .alpha = params_.values_ref(params_.dlt_alpha(*t)),
                            .gamma = params_.values_ref(params_.dlt_gamma(*t)),
                            .group = t->dlt_group,
                            .y = y});
    return;
  }
  const QuantGemm gemm = config().quant.forward_gemm;
  if (Tiled(t) && gemm == QuantGemm::kFloat) {
    // A tile of W's rows (output features) at a time writes its block of y's columns.
    const int64_t out = t->shape[0], in = t->shape[1], step = TileRows(t);
    for (int64_t r0 = 0; r0 < out; r0 += step) {
      const int64_t rows = std::min(step, out - r0);
      LinearForward(ctx_, {.x = x,
                           .w = params_.WeightsTile(*t, gemm_weights_, r0, rows, 0, in),
                           .y = y,
                           .col0 = r0,
                           .row_by_row = row_by_row});
    }
    return;
  }
  if (gemm == QuantGemm::kFloat || t->storage != ParamStorage::kCodes) {
    LinearForward(ctx_, {.x = x, .w = W(t), .y = y, .row_by_row = row_by_row});
    return;
  }
  const int64_t rows = x.dim(0), cols = x.dim(1);
  TensorRef xq = act_codes_.ref().Flat(0, rows * cols).Reshaped({rows, cols});
  ActQuantCodes(ctx_, {.x = x, .codes = xq, .scale = act_scales_, .absmax = {}});
  TensorRef wq = params_.codes_ref(*t);
  if (gemm == QuantGemm::kFp8) {
    const TensorRef fp8 =
        weight_codes_fp8_.ref().Flat(0, t->numel).Reshaped({t->shape[0], t->shape[1]});
    Convert(ctx_, {.src = wq, .dst = fp8});
    wq = fp8;
  }
  QuantizedLinearForward(
      ctx_,
      {.xq = xq, .x_scale = act_scales_, .wq = wq, .w_scale = params_.scales_ref(*t), .y = y});
}

void LlamaModel::QuantizeInput(const TensorRef& x, bool sharded) {
  if (!config().quant.int8_activations) return;
  if (const int64_t block = config().quant.activation_block; block > 0) {
    // Each block of a row is a row of its own (the rows are contiguous).
    const int64_t numel = x.dim(0) * x.dim(1);
    DQT_CHECK(x.dim(1) % block == 0 && (!sharded || tp_ == nullptr))
        << "activation_block " << block << " with " << x.dim(1) << " features per row";
    ActQuant(ctx_, {.x = x.Flat(0, numel).Reshaped({numel / block, block}),
                    .absmax = {},
                    .fp16_scale = config().quant.activation_scale_fp16});
    return;
  }
  if (!sharded || tp_ == nullptr) {
    ActQuant(ctx_, {.x = x, .absmax = {}});
    return;
  }
  RowAbsMax(ctx_, {.x = x, .absmax = row_absmax_});
  if (comm_status_.ok()) {
    comm_status_ = tp_->AllReduce(row_absmax_.ref().as<float>(), x.dim(0), ReduceOp::kMax);
  }
  ActQuant(ctx_, {.x = x, .absmax = row_absmax_});
}

void LlamaModel::TpSum(const TensorRef& x) {
  if (tp_ != nullptr && comm_status_.ok()) {
    comm_status_ = tp_->AllReduce(x.as<float>(), x.numel(), ReduceOp::kSum);
  }
}

// One transformer block on its input block_inputs_[l], writing its output to x_out and its saved
// activations to Acts(l).
void LlamaModel::BlockForward(int l, const TensorRef& x_out) {
  const LlamaConfig& c = config();
  LayerActivations& a = Acts(l);
  const LayerTensors& lt = layers_[l];
  const TensorRef x_in = block_inputs_[l];
  const int64_t n = x_in.dim(0);
  const float eps = c.norm_eps;
  // Attention half: x_mid = x_in + o(attention(rope(q), rope(k), v)).
  RmsNormForward(
      ctx_, {.x = x_in, .gain = Gain(lt.input_norm), .y = a.xn_in, .rstd = a.rstd_in, .eps = eps});
  QuantizeInput(a.xn_in);
  Linear(a.xn_in, lt.wq, Rows(a.q, n));
  Linear(a.xn_in, lt.wk, Rows(a.k, n));
  Linear(a.xn_in, lt.wv, Rows(a.v, n));
  Rope(ctx_, {.x = a.q, .cos_sin = rope_, .direction = RopeDirection::kForward});
  Rope(ctx_, {.x = a.k, .cos_sin = rope_, .direction = RopeDirection::kForward});
  AttentionForward(
      ctx_, {.q = a.q, .k = a.k, .v = a.v, .out = ShapedLike(a.att, a.q), .saved = a.att_saved});
  TensorRef o_in = a.att;
  if (c.subln) {
    RmsNormForward(
        ctx_,
        {.x = a.att, .gain = Gain(lt.attn_subln), .y = a.att_n, .rstd = a.rstd_att, .eps = eps});
    o_in = a.att_n;
  }
  QuantizeInput(o_in, /*sharded=*/true);
  Linear(o_in, lt.wo, a.x_mid);
  TpSum(a.x_mid);
  ResidualAdd(ctx_, {.dst = a.x_mid, .src = x_in});
  // MLP half: x_out = x_mid + down(silu(gate(xn)) * up(xn)).
  RmsNormForward(
      ctx_,
      {.x = a.x_mid, .gain = Gain(lt.post_norm), .y = a.xn_mid, .rstd = a.rstd_mid, .eps = eps});
  QuantizeInput(a.xn_mid);
  Linear(a.xn_mid, lt.wgate, a.gate);
  Linear(a.xn_mid, lt.wup, a.up);
  SwiGluForward(ctx_, {.gate = a.gate, .up = a.up, .h = a.h});
  TensorRef down_in = a.h;
  if (c.subln) {
    RmsNormForward(
        ctx_, {.x = a.h, .gain = Gain(lt.ffn_subln), .y = a.h_n, .rstd = a.rstd_h, .eps = eps});
    down_in = a.h_n;
  }
  QuantizeInput(down_in, /*sharded=*/true);
  Linear(down_in, lt.wdown, x_out);
  TpSum(x_out);
  ResidualAdd(ctx_, {.dst = x_out, .src = a.x_mid});
}

void LlamaModel::Forward(const int32_t* inputs, int batch, int seq) {
  Reserve(batch, seq);
  const LlamaConfig& c = config();
  const int64_t n = static_cast<int64_t>(batch) * seq;
  const float eps = c.norm_eps;
  CopyBytes(ids_.ref().data, ctx_.device(), inputs, Device::kCpu, n * sizeof(int32_t),
            ctx_.stream());
  if (Tiled(embed_)) {
    // Each token's row of the table, dequantized straight into its row of the block input.
    const TensorRef out = block_inputs_[0];
    for (int64_t i = 0; i < n; ++i) {
      DQT_CHECK(inputs[i] >= 0 && inputs[i] < c.vocab_size)
          << "token " << inputs[i] << " outside the vocabulary of " << c.vocab_size;
      params_.WeightsTile(*embed_, out.Rows(i, 1), inputs[i], 1, 0, c.d_model);
    }
  } else {
    EmbeddingForward(ctx_, {.ids = ids_, .table = W(embed_), .out = block_inputs_[0]});
  }
  for (int l = 0; l < c.n_layers; ++l) {
    BlockForward(l, l + 1 < c.n_layers ? block_inputs_[l + 1].ref() : x_final_.ref());
  }
  RmsNormForward(
      ctx_,
      {.x = x_final_, .gain = Gain(final_norm_), .y = xn_final_, .rstd = rstd_final_, .eps = eps});
  if (quantize_head_input_) QuantizeInput(xn_final_);
}

double LlamaModel::HeadLoss(const int32_t* targets, int64_t n, float loss_scale, int64_t* count) {
  CopyBytes(targets_.ref().data, ctx_.device(), targets, Device::kCpu, n * sizeof(int32_t),
            ctx_.stream());
  loss_totals_.Zero(ctx_.stream());
  if (kd_teacher_ != nullptr && loss_scale != 0.0f) {
    DQT_CHECK(kd_teacher_->Logits().rank == 2 && kd_teacher_->Logits().dim(0) == n)
        << "the logit distillation teacher did not run ForwardLogits on this batch";
    kd_total_.Zero(ctx_.stream());
    const int64_t chunk = std::min<int64_t>(n, kHeadChunkRows);
    if (kd_grad_.ref().empty() || kd_grad_.ref().dim(0) < chunk) {
      kd_grad_ = Tensor();
      kd_grad_ = Tensor({chunk, config().vocab_size}, act_, ctx_.device(), MemoryKind::kWorkspace);
    }
  }
  if (loss_scale != 0.0f) Begin(head_);
  for (int64_t r0 = 0; r0 < n; r0 += kHeadChunkRows) {
    const int64_t rows = std::min<int64_t>(kHeadChunkRows, n - r0);
    const TensorRef xn = xn_final_.ref().Rows(r0, rows);
    const TensorRef logits = HeadScratch(rows);
    const TensorRef losses = losses_.ref().Rows(0, rows);
    const TensorRef chunk_targets = targets_.ref().Rows(r0, rows);
    Linear(xn, head_, logits);
    const bool kd = kd_teacher_ != nullptr && loss_scale != 0.0f;
    const TensorRef kd_grad = kd ? kd_grad_.ref().Rows(0, rows) : TensorRef();
    if (kd) {
      LogitDistill(ctx_, {.student = logits,
                          .teacher = kd_teacher_->Logits().Rows(r0, rows),
                          .loss = kd_total_,
                          .scale = kd_weight_,
                          .dstudent = kd_grad});
    }
    CrossEntropy(
        ctx_,
        {.logits = logits, .targets = chunk_targets, .losses = losses, .grad_scale = loss_scale});
    if (kd) ResidualAdd(ctx_, {.dst = logits, .src = kd_grad});
    TokenLossSum(ctx_, {.losses = losses, .targets = chunk_targets, .totals = loss_totals_});
    if (loss_scale != 0.0f) {
      LinearBackwardOf(head_, xn, logits, d_xn_final_.ref().Rows(r0, rows), G(head_));
    }
  }
  if (loss_scale != 0.0f) Done(head_);
  double totals[2];
  CopyBytes(totals, Device::kCpu, loss_totals_.ref().data, ctx_.device(), sizeof totals,
            ctx_.stream());
  *count = static_cast<int64_t>(totals[1]);
  if (kd_teacher_ != nullptr && loss_scale != 0.0f) {
    CopyBytes(&kd_loss_sum_, Device::kCpu, kd_total_.ref().data, ctx_.device(), sizeof kd_loss_sum_,
              ctx_.stream());
  }
  return totals[0];
}

void LlamaModel::LinearGrad(const TensorRef& x, const ParamTensor* t, const TensorRef& dy,
                            const TensorRef& dx, Accumulate dx_mode) {
  if (t->storage == ParamStorage::kDltLatent) {
    // dx = dy W_hat and dW_hat = dy^T x, which DltBackward maps to the latents (straight-through
    // T), alpha and gamma, added to their gradients.
    DQT_CHECK(!sink_) << "DLT weights have no fused update";
    const ParamTensor& alpha = params_.dlt_alpha(*t);
    const ParamTensor& gamma = params_.dlt_gamma(*t);
    const TensorRef dw_hat = ShapedLike(dlt_grad_.ref().Flat(0, t->numel), params_.values_ref(*t));
    ZeroOn(ctx_.device(), dw_hat.data, dw_hat.bytes(), ctx_.stream());
    LinearBackwardOf(t, x, dy, dx, dw_hat, dx_mode);
    DltBackward(ctx_, {.w = params_.values_ref(*t),
                       .alpha = params_.values_ref(alpha),
                       .group = t->dlt_group,
                       .dw_hat = dw_hat,
                       .dw = G(t),
                       .dalpha = G(&alpha),
                       .dgamma = G(&gamma)});
    return;
  }
  Begin(t);
  LinearBackwardOf(t, x, dy, dx, G(t), dx_mode);
  Done(t);
}

void LlamaModel::LinearBackwardOf(const ParamTensor* t, const TensorRef& x, const TensorRef& dy,
                                  const TensorRef& dx, const TensorRef& dw, Accumulate dx_mode) {
  if (!Tiled(t)) {
    LinearBackward(ctx_, {.x = x, .w = W(t), .dy = dy, .dx = dx, .dw = dw, .dx_mode = dx_mode});
    return;
  }
  // dx by tiles of W's columns (input features): each GEMM sums over all output features, as
  // the untiled one does. dw = dy^T x needs no weights.
  const int64_t out = t->shape[0], in = t->shape[1], step = TileCols(t);
  for (int64_t c0 = 0; c0 < in && !dx.empty(); c0 += step) {
    const int64_t cols = std::min(step, in - c0);
    LinearBackward(ctx_, {.x = x,
                          .w = params_.WeightsTile(*t, gemm_weights_, 0, out, c0, cols),
                          .dy = dy,
                          .dx = dx,
                          .dx_mode = dx_mode,
                          .col0 = c0});
  }
  if (!dw.empty()) LinearBackward(ctx_, {.x = x, .dy = dy, .dw = dw});
}

void LlamaModel::NormGrad(const TensorRef& x, const ParamTensor* t, const TensorRef& rstd,
                          const TensorRef& dy, const TensorRef& dx) {
  Begin(t);
  RmsNormBackward(ctx_, {.x = x, .gain = Gain(t), .rstd = rstd, .dy = dy, .dx = dx, .dgain = G(t)});
  Done(t);
}

// Inputs of quantized linears hold their int8 fake-quantized values (the forward overwrote them
// in place), which is what dW = dY^T X_hat needs; the straight-through estimator passes dX_hat
// on as dX unchanged.
void LlamaModel::Backward() {
  const LlamaConfig& c = config();
  const BlockGradients& g = grads_;
  // d(final normed hidden) -> d(residual stream out of the last block).
  NormGrad(x_final_, final_norm_, rstd_final_, d_xn_final_, d_resid_);
  for (int l = c.n_layers - 1; l >= 0; --l) {
    // d_resid_ is d(output of block l) here: OFF's gradient at that layer joins it.
    if (teacher_ != nullptr &&
        std::find(off_layers_.begin(), off_layers_.end(), l) != off_layers_.end()) {
      FeatureDistillBackward(ctx_, {.student = BlockOutput(l),
                                    .teacher = teacher_->BlockOutput(l),
                                    .scale = off_weight_,
                                    .dstudent = d_resid_});
    }
    if (recompute_ == Recompute::kPerBlock) BlockForward(l, recompute_out_);
    const LayerActivations& a = Acts(l);
    const TensorRef x_in = block_inputs_[l];
    const LayerTensors& lt = layers_[l];
    const int64_t n = x_in.dim(0);
    // MLP half.
    LinearGrad(c.subln ? a.h_n : a.h, lt.wdown, d_resid_, g.d_down_in);
    TensorRef d_h = g.d_down_in;
    if (c.subln) {
      NormGrad(a.h, lt.ffn_subln, a.rstd_h, g.d_down_in, g.d_h);
      d_h = g.d_h;
    }
    SwiGluBackward(ctx_, {.gate = a.gate, .up = a.up, .dh = d_h, .dgate = g.d_gate, .dup = g.d_up});
    LinearGrad(a.xn_mid, lt.wgate, g.d_gate, g.d_xn);
    LinearGrad(a.xn_mid, lt.wup, g.d_up, g.d_xn, Accumulate::kYes);
    TpSum(g.d_xn);
    NormGrad(a.x_mid, lt.post_norm, a.rstd_mid, g.d_xn, g.d_norm_in);
    ResidualAdd(ctx_, {.dst = d_resid_, .src = g.d_norm_in});
    // Attention half.
    LinearGrad(c.subln ? a.att_n : a.att, lt.wo, d_resid_, g.d_o_in);
    TensorRef d_att = g.d_o_in;
    if (c.subln) {
      NormGrad(a.att, lt.attn_subln, a.rstd_att, g.d_o_in, g.d_att);
      d_att = g.d_att;
    }
    AttentionBackward(ctx_, {.q = a.q,
                             .k = a.k,
                             .v = a.v,
                             .out = ShapedLike(a.att, a.q),
                             .saved = a.att_saved,
                             .dout = ShapedLike(d_att, a.q),
                             .dq = g.d_q,
                             .dk = g.d_k,
                             .dv = g.d_v});
    Rope(ctx_, {.x = g.d_q, .cos_sin = rope_, .direction = RopeDirection::kInverse});
    Rope(ctx_, {.x = g.d_k, .cos_sin = rope_, .direction = RopeDirection::kInverse});
    LinearGrad(a.xn_in, lt.wq, Rows(g.d_q, n), g.d_xn);
    LinearGrad(a.xn_in, lt.wk, Rows(g.d_k, n), g.d_xn, Accumulate::kYes);
    LinearGrad(a.xn_in, lt.wv, Rows(g.d_v, n), g.d_xn, Accumulate::kYes);
    TpSum(g.d_xn);
    NormGrad(x_in, lt.input_norm, a.rstd_in, g.d_xn, g.d_norm_in);
    ResidualAdd(ctx_, {.dst = d_resid_, .src = g.d_norm_in});
  }
  Begin(embed_);
  EmbeddingBackward(ctx_, {.ids = ids_, .dout = d_resid_, .dtable = G(embed_)});
  Done(embed_);
}

double LlamaModel::ForwardBackward(const int32_t* inputs, const int32_t* targets, int batch,
                                   int seq, float loss_scale, int64_t* count) {
  DQT_CHECK(loss_scale != 0.0f) << "a zero loss scale would skip the backward";
  Forward(inputs, batch, seq);
  if (teacher_ != nullptr) {
    off_total_.Zero(ctx_.stream());
    for (int l : off_layers_) {
      FeatureDistillForward(
          ctx_,
          {.student = BlockOutput(l), .teacher = teacher_->BlockOutput(l), .loss = off_total_});
    }
    CopyBytes(&off_loss_sum_, Device::kCpu, off_total_.ref().data, ctx_.device(),
              sizeof off_loss_sum_, ctx_.stream());
  }
  const double total = HeadLoss(targets, static_cast<int64_t>(batch) * seq, loss_scale, count);
  Backward();
  return total;
}

TensorRef LlamaModel::BlockOutput(int l) const {
  DQT_CHECK(l >= 0 && l < config().n_layers) << "block " << l << " of " << config().n_layers;
  return l + 1 < config().n_layers ? block_inputs_[l + 1].ref() : x_final_.ref();
}

void LlamaModel::SetFeatureDistillation(const LlamaModel* teacher, std::vector<int> layers,
                                        float weight) {
  DQT_CHECK(teacher == nullptr ||
            (teacher->config().n_layers == config().n_layers &&
             teacher->config().d_model == config().d_model && teacher->act_ == act_))
      << "a distillation teacher of another shape";
  for (int l : layers) DQT_CHECK(l >= 0 && l < config().n_layers) << "OFF layer " << l;
  teacher_ = teacher;
  off_layers_ = std::move(layers);
  off_weight_ = weight;
  off_loss_sum_ = 0;
  if (teacher_ != nullptr && off_total_.ref().empty()) {
    off_total_ = Tensor({1}, DType::kF64, ctx_.device(), MemoryKind::kWorkspace);
  }
}

TensorRef LlamaModel::HeadScratch(int64_t rows) {
  if (logits_.ref().empty()) {
    const int64_t chunk = std::min<int64_t>(static_cast<int64_t>(batch_) * seq_, kHeadChunkRows);
    logits_ = Tensor({chunk, config().vocab_size}, act_, ctx_.device(), MemoryKind::kWorkspace);
  }
  return logits_.ref().Rows(0, rows);
}

void LlamaModel::ForwardLogits(const int32_t* inputs, int batch, int seq) {
  Forward(inputs, batch, seq);
  const int64_t n = static_cast<int64_t>(batch) * seq, vocab = config().vocab_size;
  if (all_logits_.ref().empty() || all_logits_.ref().dim(0) != n) {
    all_logits_ = Tensor();
    all_logits_ = Tensor({n, vocab}, act_, ctx_.device(), MemoryKind::kWorkspace);
  }
  Linear(xn_final_.ref(), head_, all_logits_.ref());
}

void LlamaModel::SetLogitDistillation(const LlamaModel* teacher, float weight) {
  DQT_CHECK(teacher == nullptr ||
            (teacher->config().vocab_size == config().vocab_size && teacher->act_ == act_))
      << "a logit distillation teacher of another vocabulary or activation dtype";
  kd_teacher_ = teacher;
  kd_weight_ = weight;
  kd_loss_sum_ = 0;
  if (kd_teacher_ == nullptr) return;
  if (kd_total_.ref().empty()) {
    kd_total_ = Tensor({1}, DType::kF64, ctx_.device(), MemoryKind::kWorkspace);
  }
}

double LlamaModel::ForwardLoss(const int32_t* inputs, const int32_t* targets, int batch, int seq,
                               int64_t* count) {
  Forward(inputs, batch, seq);
  return HeadLoss(targets, static_cast<int64_t>(batch) * seq, 0.0f, count);
}

void LlamaModel::LastLogits(const int32_t* tokens, int seq, float* logits) {
  Forward(tokens, 1, seq);
  const TensorRef row = HeadScratch(1);
  Linear(xn_final_.ref().Rows(seq - 1, 1), head_, row);
  if (act_ == DType::kF32) {
    CopyBytes(logits, Device::kCpu, row.data, ctx_.device(), row.bytes(), ctx_.stream());
    return;
  }
  const Tensor f32({row.numel()}, DType::kF32, ctx_.device(), MemoryKind::kWorkspace);
  Convert(ctx_, {.src = row, .dst = f32});
  CopyBytes(logits, Device::kCpu, f32.ref().data, ctx_.device(), f32.ref().bytes(), ctx_.stream());
}

ModelMemoryPlan PlanModelMemory(const ModelMemoryArgs& a) {
  const LlamaConfig& c = a.config;
  const ParamLayout layout = PlanParamLayout(c, a.tp);
  const bool cpu = a.device == Device::kCpu, has_codes = layout.codes > 0;
  auto bytes = [](double count, DType dtype) {
    return Buffer<uint8_t>::LedgerBytes(count * DTypeSize(dtype));
  };
  auto act = [&](double count) { return bytes(count, a.activations); };
  auto f32 = [&](double count) { return bytes(count, DType::kF32); };
  ModelMemoryPlan p;
  // LlamaParams.
  p.weights = f32(layout.values) + bytes(layout.codes, DType::kI8) + f32(layout.scales);
  p.workspace = f32(1);  // the ternarizer's absmean
  if (a.gradients == GradientStorage::kFull) p.gradients = f32(layout.logical);
  // The constructor.
  const WeightScratch scratch = WeightScratchOf(layout.tensors, a.activations);
  p.workspace += act(scratch.gemm) + f32(scratch.gain) + f32(scratch.dlt);
  if (c.quant.forward_gemm == QuantGemm::kFp8 && has_codes) {
    p.workspace += bytes(layout.max_numel, DType::kF8E4M3);
  }
  const double rope = 2.0 * c.context * (c.head_dim() / 2);
  p.workspace += f32(rope) + bytes(2, DType::kF64);  // RoPE table, loss totals
  if (a.gradients == GradientStorage::kNone) p.gradients = f32(layout.max_numel);
  // Init: the host RoPE table while it is built, then one whole tensor drawn (and a scale's
  // statistic); checkpoint.init_from reads into a buffer of the same size.
  p.init_workspace = std::max(cpu ? f32(rope) : 0.0,
                              f32(layout.max_full_numel) + (has_codes ? bytes(1, DType::kF64) : 0));
  // Reserve(batch, seq).
  const int tp = a.tp.size;
  const double n = double(a.batch) * a.seq, d = c.d_model, f = c.ffn_dim / tp, hd = c.head_dim();
  const double heads = c.n_heads / tp, qd = heads * hd, kv = (c.n_kv_heads / tp) * hd;
  const double att_rows = double(a.batch) * heads * a.seq;  // AttentionSavedElements
  const double att_saved = cpu ? att_rows * a.seq : att_rows;
  double block = f32(n) + act(n * d) + act(n * qd) + 2 * act(n * kv) + f32(att_saved) +
                 act(n * qd) + act(n * d) + f32(n) + act(n * d) + 3 * act(n * f);
  if (c.subln) block += f32(n) + act(n * qd) + f32(n) + act(n * f);
  const int blocks = a.recompute == Recompute::kPerBlock ? 1 : c.n_layers;
  p.activations = 2 * bytes(n, DType::kI32) + c.n_layers * act(n * d) + blocks * block;
  p.activations += act(n * d) + (a.recompute == Recompute::kPerBlock ? act(n * d) : 0) + f32(n) +
                   act(n * d) + f32(std::min(n, double(kHeadChunkRows)));
  p.activations += 2 * act(n * d);                               // d_xn_final, d_resid
  p.activations += 3 * act(n * f) + (c.subln ? act(n * f) : 0);  // d_down_in, d_gate, d_up, d_h
  p.activations += 2 * act(n * d) + act(n * qd) + (c.subln ? act(n * qd) : 0);
  p.activations += act(n * qd) + 2 * act(n * kv);  // d_q, d_k, d_v
  if (tp > 1) p.step_workspace += f32(n);          // row absmax
  if (c.quant.forward_gemm != QuantGemm::kFloat && has_codes) {
    p.step_workspace += bytes(n * std::max({d, qd, f}), DType::kI8) + f32(n);
  }
  // The head.
  const double chunk = std::min(n, double(kHeadChunkRows)), vocab = c.vocab_size;
  if (a.head_loss) p.step_workspace += act(chunk * vocab);
  if (a.logit_distill) p.step_workspace += act(chunk * vocab) + bytes(1, DType::kF64);
  if (a.feature_distill) p.workspace += bytes(1, DType::kF64);
  if (a.all_logits) p.step_workspace += act(n * vocab);
  return p;
}

}  // namespace dqt
