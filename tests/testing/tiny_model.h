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

}  // namespace dqt::testing
