// LLaMA forward/backward over the CPU kernels (ALGORITHMS.md section 1, optional SubLN).
#include "core/model/llama.h"

#include <algorithm>
#include <utility>

#include "core/base/check.h"
#include "kernels/act_quant.h"
#include "kernels/attention.h"
#include "kernels/cross_entropy.h"
#include "kernels/embedding.h"
#include "kernels/linear.h"
#include "kernels/rmsnorm.h"
#include "kernels/rope.h"
#include "kernels/swiglu.h"

namespace dqt {
namespace {

constexpr int64_t kHeadChunkRows = 512;  // rows of logits alive at once: bounds head memory

void AddInPlace(float* dst, const float* src, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] += src[i];
}

TpShard ShardOf(const Communicator* tp) {
  return tp != nullptr ? TpShard{tp->size(), tp->rank()} : TpShard{};
}

}  // namespace

LlamaModel::LlamaModel(const LlamaConfig& config, Communicator* tp)
    : tp_(tp != nullptr && tp->size() > 1 ? tp : nullptr),
      params_(config, ShardOf(tp)),
      heads_(config.n_heads / params_.tp().size),
      kv_heads_(config.n_kv_heads / params_.tp().size),
      ffn_(config.ffn_dim / params_.tp().size) {
  DQT_CHECK(tp_ == nullptr || !config.subln) << "tensor parallelism does not support SubLN";
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
  bool needs_scratch = false;
  for (const ParamTensor& p : t) needs_scratch |= p.storage != ParamStorage::kFloat;
  weight_scratch_ =
      Buffer<float>(needs_scratch ? params_.max_tensor_numel() : 0, MemoryKind::kWorkspace);
  quantize_head_input_ = config.quant.int8_activations && head_->storage != ParamStorage::kFloat;
  const int hd = config.head_dim();
  rope_ = Buffer<float>(2 * static_cast<size_t>(config.context) * (hd / 2), MemoryKind::kWorkspace);
  RopeTable(config.context, hd, config.rope_theta, rope_.data());
}

void LlamaModel::Reserve(int batch, int seq) {
  if (batch == batch_ && seq == seq_) return;
  const LlamaConfig& c = config();
  DQT_CHECK(seq >= 1 && seq <= c.context) << "seq " << seq << " outside [1, " << c.context << "]";
  batch_ = batch;
  seq_ = seq;
  const size_t n = static_cast<size_t>(batch) * seq, d = c.d_model, f = ffn_;
  const size_t qd = static_cast<size_t>(heads_) * c.head_dim();
  const size_t kv = static_cast<size_t>(kv_heads_) * c.head_dim();
  acts_.clear();
  acts_.resize(c.n_layers);
  for (LayerActivations& a : acts_) {
    a.x_in = Buffer<float>(n * d, MemoryKind::kActivations);
    a.rstd_in = Buffer<float>(n, MemoryKind::kActivations);
    a.xn_in = Buffer<float>(n * d, MemoryKind::kActivations);
    a.q = Buffer<float>(n * qd, MemoryKind::kActivations);
    a.k = Buffer<float>(n * kv, MemoryKind::kActivations);
    a.v = Buffer<float>(n * kv, MemoryKind::kActivations);
    a.probs =
        Buffer<float>(static_cast<size_t>(batch) * heads_ * seq * seq, MemoryKind::kActivations);
    a.att = Buffer<float>(n * qd, MemoryKind::kActivations);
    a.x_mid = Buffer<float>(n * d, MemoryKind::kActivations);
    a.rstd_mid = Buffer<float>(n, MemoryKind::kActivations);
    a.xn_mid = Buffer<float>(n * d, MemoryKind::kActivations);
    a.gate = Buffer<float>(n * f, MemoryKind::kActivations);
    a.up = Buffer<float>(n * f, MemoryKind::kActivations);
    a.h = Buffer<float>(n * f, MemoryKind::kActivations);
    if (c.subln) {
      a.rstd_att = Buffer<float>(n, MemoryKind::kActivations);
      a.att_n = Buffer<float>(n * qd, MemoryKind::kActivations);
      a.rstd_h = Buffer<float>(n, MemoryKind::kActivations);
      a.h_n = Buffer<float>(n * f, MemoryKind::kActivations);
    }
  }
  x_final_ = Buffer<float>(n * d, MemoryKind::kActivations);
  rstd_final_ = Buffer<float>(n, MemoryKind::kActivations);
  xn_final_ = Buffer<float>(n * d, MemoryKind::kActivations);
  const size_t chunk = std::min<size_t>(n, kHeadChunkRows);
  logits_ = Buffer<float>(chunk * c.vocab_size, MemoryKind::kWorkspace);
  losses_ = Buffer<float>(chunk, MemoryKind::kActivations);
  row_absmax_ = Buffer<float>(tp_ != nullptr ? n : 0, MemoryKind::kWorkspace);
  grad_x_ = Buffer<float>(n * d, MemoryKind::kActivations);
  grad_tmp_ = Buffer<float>(n * d, MemoryKind::kActivations);
  grad_tmp2_ = Buffer<float>(n * d, MemoryKind::kActivations);
  grad_q_ = Buffer<float>(n * qd, MemoryKind::kActivations);
  grad_k_ = Buffer<float>(n * kv, MemoryKind::kActivations);
  grad_v_ = Buffer<float>(n * kv, MemoryKind::kActivations);
  grad_att_ = Buffer<float>(n * qd, MemoryKind::kActivations);
  grad_h_ = Buffer<float>(n * f, MemoryKind::kActivations);
  grad_gate_ = Buffer<float>(n * f, MemoryKind::kActivations);
  grad_up_ = Buffer<float>(n * f, MemoryKind::kActivations);
  grad_ffn_tmp_ = Buffer<float>(n * f, MemoryKind::kActivations);
}

void LlamaModel::QuantizeInput(float* x, int64_t rows, int cols, bool sharded) {
  if (!config().quant.int8_activations) return;
  if (!sharded || tp_ == nullptr) {
    ActQuantInt8(x, rows, cols);
    return;
  }
  RowAbsMax(x, rows, cols, row_absmax_.data());
  if (comm_status_.ok()) comm_status_ = tp_->AllReduce(row_absmax_.data(), rows, ReduceOp::kMax);
  ActQuantInt8WithAbsMax(x, rows, cols, row_absmax_.data());
}

void LlamaModel::TpSum(float* x, int64_t n) {
  if (tp_ != nullptr && comm_status_.ok()) comm_status_ = tp_->AllReduce(x, n, ReduceOp::kSum);
}

void LlamaModel::Forward(const int32_t* inputs, int batch, int seq) {
  Reserve(batch, seq);
  const LlamaConfig& c = config();
  const int64_t n = static_cast<int64_t>(batch) * seq;
  const int d = c.d_model, f = ffn_, hd = c.head_dim();
  const int qd = heads_ * hd, kv = kv_heads_ * hd;
  const float eps = c.norm_eps;
  const AttentionShape shape{batch, seq, heads_, kv_heads_, hd};
  EmbeddingForward(inputs, n, W(embed_), d, acts_[0].x_in.data());
  for (int l = 0; l < c.n_layers; ++l) {
    LayerActivations& a = acts_[l];
    const LayerTensors& lt = layers_[l];
    float* x_out = l + 1 < c.n_layers ? acts_[l + 1].x_in.data() : x_final_.data();
    // Attention half: x_mid = x_in + o(attention(rope(q), rope(k), v)).
    RmsNormForward(a.x_in.data(), W(lt.input_norm), n, d, eps, a.xn_in.data(), a.rstd_in.data());
    QuantizeInput(a.xn_in.data(), n, d);
    LinearForward(a.xn_in.data(), W(lt.wq), n, d, qd, a.q.data());
    LinearForward(a.xn_in.data(), W(lt.wk), n, d, kv, a.k.data());
    LinearForward(a.xn_in.data(), W(lt.wv), n, d, kv, a.v.data());
    RopeForward(a.q.data(), batch, seq, heads_, hd, c.context, rope_.data());
    RopeForward(a.k.data(), batch, seq, kv_heads_, hd, c.context, rope_.data());
    AttentionForward(shape, a.q.data(), a.k.data(), a.v.data(), a.att.data(), a.probs.data());
    float* o_in = a.att.data();
    if (c.subln) {
      RmsNormForward(a.att.data(), W(lt.attn_subln), n, qd, eps, a.att_n.data(), a.rstd_att.data());
      o_in = a.att_n.data();
    }
    QuantizeInput(o_in, n, qd, /*sharded=*/true);
    LinearForward(o_in, W(lt.wo), n, qd, d, a.x_mid.data());
    TpSum(a.x_mid.data(), n * d);
    AddInPlace(a.x_mid.data(), a.x_in.data(), n * d);
    // MLP half: x_out = x_mid + down(silu(gate(xn)) * up(xn)).
    RmsNormForward(a.x_mid.data(), W(lt.post_norm), n, d, eps, a.xn_mid.data(), a.rstd_mid.data());
    QuantizeInput(a.xn_mid.data(), n, d);
    LinearForward(a.xn_mid.data(), W(lt.wgate), n, d, f, a.gate.data());
    LinearForward(a.xn_mid.data(), W(lt.wup), n, d, f, a.up.data());
    SwiGluForward(a.gate.data(), a.up.data(), n * f, a.h.data());
    float* down_in = a.h.data();
    if (c.subln) {
      RmsNormForward(a.h.data(), W(lt.ffn_subln), n, f, eps, a.h_n.data(), a.rstd_h.data());
      down_in = a.h_n.data();
    }
    QuantizeInput(down_in, n, f, /*sharded=*/true);
    LinearForward(down_in, W(lt.wdown), n, f, d, x_out);
    TpSum(x_out, n * d);
    AddInPlace(x_out, a.x_mid.data(), n * d);
  }
  RmsNormForward(x_final_.data(), W(final_norm_), n, d, eps, xn_final_.data(), rstd_final_.data());
  if (quantize_head_input_) ActQuantInt8(xn_final_.data(), n, d);
}

double LlamaModel::HeadLoss(const int32_t* targets, int64_t n, float loss_scale, int64_t* count) {
  const LlamaConfig& c = config();
  const int d = c.d_model, vocab = c.vocab_size;
  double total = 0;
  int64_t scored = 0;
  const float* head = W(head_);
  for (int64_t r0 = 0; r0 < n; r0 += kHeadChunkRows) {
    const int64_t rows = std::min<int64_t>(kHeadChunkRows, n - r0);
    const float* xn = xn_final_.data() + r0 * d;
    LinearForward(xn, head, rows, d, vocab, logits_.data());
    CrossEntropy(logits_.data(), targets + r0, rows, vocab, loss_scale, losses_.data());
    for (int64_t r = 0; r < rows; ++r) {
      if (targets[r0 + r] < 0) continue;
      total += losses_[r];
      ++scored;
    }
    if (loss_scale != 0.0f) {
      LinearBackward(xn, head, logits_.data(), rows, d, vocab, grad_x_.data() + r0 * d, G(head_));
    }
  }
  *count = scored;
  return total;
}

// Inputs of quantized linears hold their int8 fake-quantized values (the forward overwrote them
// in place), which is what dW = dY^T X_hat needs; the straight-through estimator passes dX_hat
// on as dX unchanged.
void LlamaModel::Backward(const int32_t* inputs, int batch, int seq) {
  const LlamaConfig& c = config();
  const int64_t n = static_cast<int64_t>(batch) * seq;
  const int d = c.d_model, f = ffn_, hd = c.head_dim();
  const int qd = heads_ * hd, kv = kv_heads_ * hd;
  const AttentionShape shape{batch, seq, heads_, kv_heads_, hd};
  // grad_x_ holds d(final normed hidden); turn it into d(residual stream out of the last block).
  RmsNormBackward(x_final_.data(), W(final_norm_), rstd_final_.data(), grad_x_.data(), n, d,
                  grad_tmp_.data(), G(final_norm_));
  std::swap(grad_x_, grad_tmp_);
  for (int l = c.n_layers - 1; l >= 0; --l) {
    const LayerActivations& a = acts_[l];
    const LayerTensors& lt = layers_[l];
    // MLP half.
    const float* down_in = c.subln ? a.h_n.data() : a.h.data();
    LinearBackward(down_in, W(lt.wdown), grad_x_.data(), n, f, d, grad_h_.data(), G(lt.wdown));
    if (c.subln) {
      RmsNormBackward(a.h.data(), W(lt.ffn_subln), a.rstd_h.data(), grad_h_.data(), n, f,
                      grad_ffn_tmp_.data(), G(lt.ffn_subln));
      std::swap(grad_h_, grad_ffn_tmp_);
    }
    SwiGluBackward(a.gate.data(), a.up.data(), grad_h_.data(), n * f, grad_gate_.data(),
                   grad_up_.data());
    LinearBackward(a.xn_mid.data(), W(lt.wgate), grad_gate_.data(), n, d, f, grad_tmp_.data(),
                   G(lt.wgate));
    LinearBackward(a.xn_mid.data(), W(lt.wup), grad_up_.data(), n, d, f, grad_tmp_.data(),
                   G(lt.wup), Accumulate::kYes);
    TpSum(grad_tmp_.data(), n * d);
    RmsNormBackward(a.x_mid.data(), W(lt.post_norm), a.rstd_mid.data(), grad_tmp_.data(), n, d,
                    grad_tmp2_.data(), G(lt.post_norm));
    AddInPlace(grad_x_.data(), grad_tmp2_.data(), n * d);
    // Attention half.
    const float* o_in = c.subln ? a.att_n.data() : a.att.data();
    LinearBackward(o_in, W(lt.wo), grad_x_.data(), n, qd, d, grad_att_.data(), G(lt.wo));
    if (c.subln) {
      RmsNormBackward(a.att.data(), W(lt.attn_subln), a.rstd_att.data(), grad_att_.data(), n, qd,
                      grad_q_.data(), G(lt.attn_subln));
      std::swap(grad_att_, grad_q_);
    }
    AttentionBackward(shape, a.q.data(), a.k.data(), a.v.data(), a.probs.data(), grad_att_.data(),
                      grad_q_.data(), grad_k_.data(), grad_v_.data());
    RopeBackward(grad_q_.data(), batch, seq, heads_, hd, c.context, rope_.data());
    RopeBackward(grad_k_.data(), batch, seq, kv_heads_, hd, c.context, rope_.data());
    LinearBackward(a.xn_in.data(), W(lt.wq), grad_q_.data(), n, d, qd, grad_tmp_.data(), G(lt.wq));
    LinearBackward(a.xn_in.data(), W(lt.wk), grad_k_.data(), n, d, kv, grad_tmp_.data(), G(lt.wk),
                   Accumulate::kYes);
    LinearBackward(a.xn_in.data(), W(lt.wv), grad_v_.data(), n, d, kv, grad_tmp_.data(), G(lt.wv),
                   Accumulate::kYes);
    TpSum(grad_tmp_.data(), n * d);
    RmsNormBackward(a.x_in.data(), W(lt.input_norm), a.rstd_in.data(), grad_tmp_.data(), n, d,
                    grad_tmp2_.data(), G(lt.input_norm));
    AddInPlace(grad_x_.data(), grad_tmp2_.data(), n * d);
  }
  EmbeddingBackward(inputs, n, grad_x_.data(), d, G(embed_));
}

double LlamaModel::ForwardBackward(const int32_t* inputs, const int32_t* targets, int batch,
                                   int seq, float loss_scale, int64_t* count) {
  DQT_CHECK(loss_scale != 0.0f) << "a zero loss scale would skip the backward";
  Forward(inputs, batch, seq);
  const double total = HeadLoss(targets, static_cast<int64_t>(batch) * seq, loss_scale, count);
  Backward(inputs, batch, seq);
  return total;
}

double LlamaModel::ForwardLoss(const int32_t* inputs, const int32_t* targets, int batch, int seq,
                               int64_t* count) {
  Forward(inputs, batch, seq);
  return HeadLoss(targets, static_cast<int64_t>(batch) * seq, 0.0f, count);
}

void LlamaModel::LastLogits(const int32_t* tokens, int seq, float* logits) {
  Forward(tokens, 1, seq);
  const int d = config().d_model;
  LinearForward(xn_final_.data() + static_cast<int64_t>(seq - 1) * d, W(head_), 1, d,
                config().vocab_size, logits);
}

}  // namespace dqt
