// Held-out scoring (see evaluate.h).
#include "core/train/evaluate.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace dqt {

TokenSource SourceOf(const TokenShard& shard) {
  return TokenSource{
      shard.size(), shard.source_bytes(),
      [&shard](uint64_t start, size_t n, int32_t* out) { shard.Copy(start, n, out); }};
}

TokenSource SourceOf(std::span<const int32_t> tokens, uint64_t source_bytes) {
  return TokenSource{tokens.size(), source_bytes, [tokens](uint64_t start, size_t n, int32_t* out) {
                       std::copy_n(tokens.begin() + start, n, out);
                     }};
}

EvalResult Evaluate(LlamaModel& model, const TokenSource& shard, int seq_len, int batch,
                    int64_t max_windows) {
  const int64_t windows = static_cast<int64_t>((shard.size - 1) / seq_len);
  const int64_t used = max_windows > 0 ? std::min(max_windows, windows) : windows;
  std::vector<int32_t> window(seq_len + 1), inputs, targets;
  double total = 0;
  int64_t scored = 0;
  for (int64_t w0 = 0; w0 < used; w0 += batch) {
    const int rows = static_cast<int>(std::min<int64_t>(batch, used - w0));
    inputs.resize(static_cast<size_t>(rows) * seq_len);
    targets.resize(inputs.size());
    for (int r = 0; r < rows; ++r) {
      // Evenly spread windows when scoring a subset; all of them in order otherwise.
      const int64_t w = (w0 + r) * windows / used;
      shard.copy(static_cast<uint64_t>(w) * seq_len, seq_len + 1, window.data());
      std::copy(window.begin(), window.end() - 1, inputs.begin() + r * seq_len);
      std::copy(window.begin() + 1, window.end(), targets.begin() + r * seq_len);
    }
    int64_t count = 0;
    total += model.ForwardLoss(inputs.data(), targets.data(), rows, seq_len, &count);
    scored += count;
  }
  EvalResult r;
  r.tokens = scored;
  r.loss = scored > 0 ? total / scored : 0.0;
  r.perplexity = std::exp(r.loss);
  const double bytes_per_token = shard.size > 0 ? double(shard.source_bytes) / shard.size : 0;
  if (bytes_per_token > 0) r.bits_per_byte = r.loss / std::log(2.0) / bytes_per_token;
  return r;
}

}  // namespace dqt
