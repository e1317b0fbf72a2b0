// The tiny LLaMA of the unit tests, in one place: a test names only the sizes it changes and sets
// init, seed and quantization on the returned config.
#pragma once

#include "core/model/llama_config.h"

namespace dqt::testing {

struct TinyShape {
  int vocab = 13;
  int d_model = 16;
  int layers = 2;
  int heads = 4;
  int kv_heads = 2;  // GQA by default: two query heads per key/value head
  int ffn = 24;
  int context = 8;
};

inline LlamaConfig TinyModel(const TinyShape& s = {}) {
  LlamaConfig c;
  c.vocab_size = s.vocab;
  c.d_model = s.d_model;
  c.n_layers = s.layers;
  c.n_heads = s.heads;
  c.n_kv_heads = s.kv_heads;
  c.ffn_dim = s.ffn;
  c.context = s.context;
  return c;
}

// The random DQT model of the greedy-generation tests: the GPT-2 vocabulary, d_model and ffn_dim
// multiples of 256 (llama.cpp's TQ2_0 blocks), body init_std 0.1. With its LM head scaled by
// kPeakedHeadFactor after Init (logits of std ~8), most next-token choices are clear (gaps of
// 0.5-5), so a wrong forward shows at once.
inline LlamaConfig PeakedGpt2Model(QuantGrid grid) {
  LlamaConfig c = TinyModel({.vocab = 50257,
                             .d_model = 256,
                             .layers = 2,
                             .heads = 4,
                             .kv_heads = 2,
                             .ffn = 512,
                             .context = 64});
  c.init_std = 0.1f;
  c.seed = 11;
  c.quant.optimizer = OptimizerKind::kDqt;
  c.quant.grid = grid;
  return c;
}
inline constexpr float kPeakedHeadFactor = 5.0f;

}  // namespace dqt::testing
