// Held-out scoring: loss, perplexity and bits per byte of a model over token windows.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>

#include "core/model/llama.h"
#include "data/token_shard.h"

namespace dqt {

struct EvalResult {
  double loss = 0;        // mean nats per scored token
  double perplexity = 0;  // exp(loss)
  // loss / ln 2 / (source bytes per token of the shard); none when the shard does not record
  // its text's size (llm.c files, or a header that says 0 bytes): never a made-up 0.
  std::optional<double> bits_per_byte;
  int64_t tokens = 0;  // scored tokens
};

// Tokens to score: `size` tokens that came from `source_bytes` bytes of text, read through
// copy(start, n, out).
struct TokenSource {
  uint64_t size = 0;
  uint64_t source_bytes = 0;
  std::function<void(uint64_t start, size_t n, int32_t* out)> copy;
};
TokenSource SourceOf(const TokenShard& shard);
TokenSource SourceOf(std::span<const int32_t> tokens, uint64_t source_bytes);

// Scores `tokens` in non-overlapping windows of seq_len (+1 for the targets), `batch` windows
// at a time. max_windows = 0 scores every window; otherwise that many, evenly spread.
EvalResult Evaluate(LlamaModel& model, const TokenSource& tokens, int seq_len, int batch,
                    int64_t max_windows);

}  // namespace dqt
