// Which tokenizer made a token shard: its kind, vocabulary size and a digest of its files, so
// training can refuse shards that a different tokenizer made (see DATA.md "Tokenizer identity").
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace dqt {

enum class TokenizerKind : uint32_t {
  kUnrecorded = 0,     // a version-1 dqt shard or an llm.c file: not known, not checked
  kGpt2Bpe = 1,        // encoder.json + vocab.bpe
  kSentencePiece = 2,  // a tokenizer.model (serialized ModelProto)
};

struct TokenizerIdentity {
  TokenizerKind kind = TokenizerKind::kUnrecorded;
  uint32_t vocab_size = 0;
  // The first 16 bytes of sha256 over a tag of the kind and the tokenizer's file bytes.
  std::array<uint8_t, 16> digest{};

  bool recorded() const { return kind != TokenizerKind::kUnrecorded; }
  // e.g. "SentencePiece (vocab 8000, sha256 3f2a09c1d0e4b5a6...)" or "unrecorded".
  std::string ToString() const;
  friend bool operator==(const TokenizerIdentity&, const TokenizerIdentity&) = default;
};

// From the exact file bytes the tokenizer was loaded from.
TokenizerIdentity Gpt2Identity(std::string_view encoder_json, std::string_view vocab_bpe,
                               int vocab_size);
// `model` is a tokenizer.model's bytes; InvalidArgument naming `what` when it is not one.
[[nodiscard]] absl::StatusOr<TokenizerIdentity> SentencePieceIdentity(std::string_view model,
                                                                      const std::string& what);

// The identity of the tokenizer in file `path`: a SentencePiece tokenizer.model, or a GPT-2
// encoder.json with its vocab.bpe in the same folder. Anything else (a vocab.bpe, a text file, a
// GGUF) is InvalidArgument naming the path and the two kinds accepted.
[[nodiscard]] absl::StatusOr<TokenizerIdentity> IdentifyTokenizerFile(const std::string& path);

// InvalidArgument when both are recorded and differ, naming `a_what`, `b_what` and both
// tokenizers; OK when either is unrecorded (nothing to compare).
[[nodiscard]] absl::Status CheckSameTokenizer(const TokenizerIdentity& a, const std::string& a_what,
                                              const TokenizerIdentity& b,
                                              const std::string& b_what);

}  // namespace dqt
