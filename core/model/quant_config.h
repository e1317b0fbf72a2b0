// How a model's weights are stored and trained (ALGORITHMS.md 2-5): fp32, BitNet b1.58 QAT on
// fp32 latent weights, DQT integer codes updated by stochastic rounding, or TernaryLLM's DLT
// (fp32 latents ternarized per group with a learnable scale and shift).
#pragma once

#include "core/base/quant_grid.h"
#include "kernels/linear.h"   // QuantGemm
#include "kernels/moments.h"  // MomentFormat

namespace dqt {

enum class OptimizerKind { kFp, kBitNet, kDqt, kTernaryLlm };
enum class QuantPolicy { kLinearOnly, kAll };  // which tensors are quantized
enum class ScaleInit { kAbsMean, kAbsMax };

struct QuantConfig {
  OptimizerKind optimizer = OptimizerKind::kFp;
  QuantGrid grid = QuantGrid::Ternary();  // DQT: the code grid; BitNet: always ternary
  QuantPolicy policy = QuantPolicy::kLinearOnly;
  bool int8_activations = false;  // per-token absmax int8 inputs of quantized linears (STE)
  // With int8_activations: 0 quantizes each token's input row as a whole; B > 0 each run of B
  // input features of a row with its own absmax, as llama.cpp's CPU dot products quantize the
  // activations of quantized weights (Q8_K blocks of 256 for TQ2_0/TQ1_0, Q8_0 blocks of 32 for
  // Q8_0), so that the function trained and evaluated is the one deployed. Float GEMM only, no
  // tensor parallelism; B divides d_model and ffn_dim.
  int activation_block = 0;
  // With activation_block: dequantize each block as code * fp16(absmax / 127), llama.cpp's Q8_0
  // activation scale stored in fp16, instead of code / (127 / absmax).
  bool activation_scale_fp16 = false;
  MomentFormat moments = MomentFormat::kFp32;  // DQT moment storage
  ScaleInit scale_init = ScaleInit::kAbsMean;
  // Recompute each code tensor's scale every step as the reference code does,
  // s = Qp / max(w) (signed max); by default the init scale stays fixed.
  bool recompute_scale = false;
  // One scale per output row (per channel) of each matrix instead of one per tensor.
  bool per_channel_scale = false;
  // The forward product of DQT code tensors: float (dequantized weights, fake-quantized
  // activations), INT8 (int8 x int8 -> int32, the paper's numerics) or FP8 (e4m3, exact for codes
  // of up to 4 bits).
  QuantGemm forward_gemm = QuantGemm::kFloat;
  // TernaryLLM: elements of a row per DLT group (one alpha and gamma each); 0 = the whole row
  // (one group per output channel).
  int dlt_group = 0;

  bool quantized() const { return optimizer != OptimizerKind::kFp; }
};

}  // namespace dqt
