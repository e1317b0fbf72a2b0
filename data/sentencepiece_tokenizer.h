// SentencePiece tokenizers through Debian's libsentencepiece: load any tokenizer.model, train one
// on a corpus (BPE or unigram), and build a BPE model from a vocabulary and merge list (e.g. the
// LLaMA-1/2 vocabulary published without its tokenizer.model).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace dqt::spm {
class Processor;
}

namespace dqt {

enum class SentencePieceType { kBpe, kUnigram };

class SentencePieceTokenizer {
 public:
  // A serialized ModelProto (a tokenizer.model file). A file that is not one (a GPT-2
  // encoder.json, a text file) is InvalidArgument naming the path.
  [[nodiscard]] static absl::StatusOr<SentencePieceTokenizer> Load(const std::string& path);
  [[nodiscard]] static absl::StatusOr<SentencePieceTokenizer> FromSerialized(
      std::string_view model, const std::string& what);

  SentencePieceTokenizer(SentencePieceTokenizer&&) noexcept;
  SentencePieceTokenizer& operator=(SentencePieceTokenizer&&) noexcept;
  ~SentencePieceTokenizer();

  // Ids without BOS/EOS (the caller adds bos_id() where its model wants one).
  std::vector<int32_t> Encode(std::string_view text) const;
  std::string Decode(std::span<const int32_t> ids) const;
  int vocab_size() const;
  int bos_id() const;
  int eos_id() const;
  std::string Piece(int32_t id) const;
  // The serialized model (for embedding in GGUF or shard metadata).
  const std::string& serialized() const { return serialized_; }

 private:
  SentencePieceTokenizer();
  std::unique_ptr<spm::Processor> processor_;
  std::string serialized_;
};

// Trains on the UTF-8 text file `input` and writes `model_prefix`.model (and .vocab). Text round
// trips exactly: identity normalization, whitespace kept as it is, byte fallback for characters
// outside the vocabulary, digits split.
[[nodiscard]] absl::Status TrainSentencePiece(const std::string& input, int vocab_size,
                                              SentencePieceType type,
                                              const std::string& model_prefix);

// A SentencePiece BPE ModelProto (serialized) from `pieces` in id order and `merges` (pairs of
// ids, highest priority first): ids 0-2 are <unk> <s> </s>, pieces "<0xNN>" are byte-fallback
// tokens, the result of merge k scores -k. LLaMA's normalizer: identity, a dummy "▁" prefix,
// spaces escaped as "▁". Errors for a merge whose result is not in the vocabulary.
[[nodiscard]] absl::StatusOr<std::string> SentencePieceBpeModel(
    const std::vector<std::string>& pieces, const std::vector<std::pair<int, int>>& merges);

}  // namespace dqt
