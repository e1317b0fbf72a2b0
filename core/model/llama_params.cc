// Parameter list, flat storage and the counter-based init of a LLaMA model.
#include "core/model/llama_params.h"

#include "absl/strings/str_cat.h"
#include "core/base/parallel.h"
#include "core/base/philox.h"

namespace dqt {

LlamaParams::LlamaParams(const LlamaConfig& c) : config_(c) {
  const int64_t d = c.d_model, q_dim = c.n_heads * c.head_dim(), kv = c.kv_dim(), f = c.ffn_dim;
  Add("model.embed_tokens.weight", {c.vocab_size, d}, ParamKind::kEmbedding);
  for (int i = 0; i < c.n_layers; ++i) {
    const std::string p = absl::StrCat("model.layers.", i, ".");
    Add(p + "input_layernorm.weight", {d}, ParamKind::kNorm);
    Add(p + "self_attn.q_proj.weight", {q_dim, d}, ParamKind::kLinear);
    Add(p + "self_attn.k_proj.weight", {kv, d}, ParamKind::kLinear);
    Add(p + "self_attn.v_proj.weight", {kv, d}, ParamKind::kLinear);
    if (c.subln) Add(p + "self_attn.attn_sub_norm.weight", {q_dim}, ParamKind::kNorm);
    Add(p + "self_attn.o_proj.weight", {d, q_dim}, ParamKind::kLinear);
    Add(p + "post_attention_layernorm.weight", {d}, ParamKind::kNorm);
    Add(p + "mlp.gate_proj.weight", {f, d}, ParamKind::kLinear);
    Add(p + "mlp.up_proj.weight", {f, d}, ParamKind::kLinear);
    if (c.subln) Add(p + "mlp.ffn_sub_norm.weight", {f}, ParamKind::kNorm);
    Add(p + "mlp.down_proj.weight", {d, f}, ParamKind::kLinear);
  }
  Add("model.norm.weight", {d}, ParamKind::kNorm);
  Add("lm_head.weight", {c.vocab_size, d}, ParamKind::kHead);
  const ParamTensor& last = tensors_.back();
  values_ = Buffer<float>(last.offset + last.numel, MemoryKind::kWeights);
  grads_ = Buffer<float>(last.offset + last.numel, MemoryKind::kGradients);
}

void LlamaParams::Add(std::string name, std::vector<int64_t> shape, ParamKind kind) {
  ParamTensor t;
  t.name = std::move(name);
  t.numel = 1;
  for (int64_t s : shape) t.numel *= s;
  t.shape = std::move(shape);
  // Keep every tensor 64-byte aligned inside the flat buffer.
  t.offset = tensors_.empty() ? 0 : (tensors_.back().offset + tensors_.back().numel + 15) / 16 * 16;
  t.kind = kind;
  t.id = static_cast<uint32_t>(tensors_.size());
  tensors_.push_back(std::move(t));
}

void LlamaParams::Init() {
  values_.Zero();
  for (const ParamTensor& t : tensors_) {
    float* data = values_.data() + t.offset;
    if (t.kind == ParamKind::kNorm) {
      for (int64_t i = 0; i < t.numel; ++i) data[i] = 1.0f;
      continue;
    }
    const RngKey key = MakeRngKey(config_.seed, t.id);
    const float std = config_.init_std;
    ParallelFor(
        t.numel,
        [&](int64_t i) {
          data[i] = std * NormalAt(key, RngPurpose::kInit, 0, static_cast<uint64_t>(i));
        },
        4096);
  }
}

ModelWeights LlamaParams::Views(float* base) const {
  size_t next = 0;
  auto take = [&]() { return base + tensors_[next++].offset; };
  ModelWeights w;
  w.embed = take();
  for (int i = 0; i < config_.n_layers; ++i) {
    LayerWeights l{};
    l.input_norm = take();
    l.wq = take();
    l.wk = take();
    l.wv = take();
    l.attn_subln = config_.subln ? take() : nullptr;
    l.wo = take();
    l.post_norm = take();
    l.wgate = take();
    l.wup = take();
    l.ffn_subln = config_.subln ? take() : nullptr;
    l.wdown = take();
    w.layers.push_back(l);
  }
  w.final_norm = take();
  w.head = take();
  return w;
}

}  // namespace dqt
