// Parameter layout of a LLaMA model: one flat fp32 buffer for values and one for gradients,
// named views in a fixed order (the order defines each tensor's parameter id for the RNG).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/base/buffer.h"
#include "core/model/llama_config.h"

namespace dqt {

enum class ParamKind { kEmbedding, kNorm, kLinear, kHead };

struct ParamTensor {
  std::string name;            // Hugging Face LlamaForCausalLM name
  std::vector<int64_t> shape;  // row-major; linear weights are (out, in)
  int64_t numel = 0;
  int64_t offset = 0;  // into the flat value / gradient buffers
  ParamKind kind = ParamKind::kLinear;
  uint32_t id = 0;  // position in the list: the RNG stream of this tensor
};

// Views of one block's tensors (pointers into the flat buffer).
struct LayerWeights {
  float* input_norm;  // (d)
  float* wq;          // (H*hd, d)
  float* wk;          // (Hkv*hd, d)
  float* wv;          // (Hkv*hd, d)
  float* attn_subln;  // (d) or null
  float* wo;          // (d, H*hd)
  float* post_norm;   // (d)
  float* wgate;       // (ffn, d)
  float* wup;         // (ffn, d)
  float* ffn_subln;   // (ffn) or null
  float* wdown;       // (d, ffn)
};

struct ModelWeights {
  float* embed;  // (V, d)
  std::vector<LayerWeights> layers;
  float* final_norm;  // (d)
  float* head;        // (V, d)
};

class LlamaParams {
 public:
  explicit LlamaParams(const LlamaConfig& config);

  // Normal(0, init_std) for matrices, 1 for norm gains: a pure function of (seed, id, index).
  void Init();

  const LlamaConfig& config() const { return config_; }
  const std::vector<ParamTensor>& tensors() const { return tensors_; }
  int64_t numel() const { return values_.size(); }
  Buffer<float>& values() { return values_; }
  const Buffer<float>& values() const { return values_; }
  Buffer<float>& grads() { return grads_; }
  const Buffer<float>& grads() const { return grads_; }
  // Views over `base`: values().data() for weights, grads().data() for gradients.
  ModelWeights Views(float* base) const;

 private:
  void Add(std::string name, std::vector<int64_t> shape, ParamKind kind);

  LlamaConfig config_;
  std::vector<ParamTensor> tensors_;
  Buffer<float> values_;
  Buffer<float> grads_;
};

}  // namespace dqt
