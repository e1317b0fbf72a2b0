// Export of a dqt checkpoint as a llama.cpp GGUF file (architecture "llama"): ternary DQT codes
// as TQ2_0 straight from codes and scale, 8-bit-or-narrower codes as Q8_0 when that is exact and
// F16 otherwise, BitNet latents as TQ2_0 of their ternarization, other tensors F32; the GPT-2
// BPE tokenizer in tokenizer.ggml.*.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "launch/gguf.h"
#include "launch/model_loading.h"

namespace dqt {

// What was written, per tensor, and why (printed by dqt_export, checked by tests).
struct GgufExportReport {
  struct Entry {
    std::string name;  // GGUF name
    GgmlType type;
    std::string note;  // e.g. "codes / scale, d = fp16(1/scale) (rel. change 1.2e-4)"
  };
  std::vector<Entry> tensors;
  int64_t bytes = 0;
};

// Reads checkpoint `ckpt` (as stored: codes stay codes) and writes `out_path`. Errors:
// a shape llama.cpp's block types cannot take (a ternary matrix whose rows are not a multiple of
// 256), SubLN checkpoints (llama.cpp's "llama" has no sub-norms), a tokenizer the model's
// vocabulary does not cover.
// `ternary` is TQ2_0 (2 bits per weight, the default) or TQ1_0 (1.6875).
[[nodiscard]] absl::StatusOr<GgufExportReport> ExportGguf(const std::string& ckpt,
                                                          const std::string& out_path,
                                                          const TokenizerPaths& tokenizer,
                                                          GgmlType ternary = GgmlType::kTQ2_0);

// Hugging Face (rotate_half RoPE) rows of a q or k projection reordered for llama.cpp's
// interleaved RoPE: within each head of `head_dim` rows, new row 2i + j = old row j*head_dim/2 + i.
int64_t GgufRopeRow(int64_t row, int64_t head_dim);

}  // namespace dqt
