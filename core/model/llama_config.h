// Shape and init of a LLaMA model (ALGORITHMS.md section 1). Plain struct, validated at launch.
#pragma once

#include <cstdint>

#include "core/model/quant_config.h"

namespace dqt {

// Activation memory: every block's activations kept for the backward, or only each block's input,
// the rest recomputed block by block in the backward (the same ops on the same inputs: the
// gradients are bit-identical).
enum class Recompute { kNo, kPerBlock };

struct LlamaConfig {
  int vocab_size = 50257;
  int d_model = 256;
  int n_layers = 4;
  int n_heads = 4;
  int n_kv_heads = 4;  // GQA when < n_heads; must divide n_heads
  int ffn_dim = 704;   // SwiGLU hidden width
  int context = 128;   // maximum sequence length (RoPE table size)
  float rope_theta = 10000.0f;
  float norm_eps = 1e-5f;
  bool subln = false;  // BitNet SubLN: extra RMSNorm before o_proj and before down_proj
  float init_std = 0.02f;
  uint64_t seed = 1234;  // init is a pure function of (seed, parameter id, element index)
  QuantConfig quant;     // fp32 unless a quantized optimizer is chosen

  int head_dim() const { return d_model / n_heads; }
  int kv_dim() const { return n_kv_heads * head_dim(); }
};

}  // namespace dqt
