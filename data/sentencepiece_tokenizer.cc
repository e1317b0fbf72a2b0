// libsentencepiece wrapper, and a ModelProto writer (protobuf wire format by hand, field numbers
// from sentencepiece_model.proto) for BPE vocabularies published without a tokenizer.model.
#include "data/sentencepiece_tokenizer.h"

#include <bit>
#include <fstream>
#include <sstream>
#include <unordered_map>

#include "absl/strings/str_cat.h"
#include "data/sentencepiece_backend.h"

namespace dqt {
namespace {

void Varint(uint64_t v, std::string* out) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}
void Tag(int field, int wire, std::string* out) { Varint(uint64_t(field) << 3 | wire, out); }
void Bytes(int field, std::string_view s, std::string* out) {
  Tag(field, 2, out);
  Varint(s.size(), out);
  out->append(s);
}
void Int(int field, int64_t v, std::string* out) {
  Tag(field, 0, out);
  Varint(static_cast<uint64_t>(v), out);
}
void Float(int field, float v, std::string* out) {
  Tag(field, 5, out);
  const uint32_t bits = std::bit_cast<uint32_t>(v);
  for (int i = 0; i < 4; ++i) out->push_back(static_cast<char>(bits >> (8 * i)));
}

// SentencePiece.Type
constexpr int kNormal = 1, kUnknown = 2, kControl = 3, kByte = 6;

}  // namespace

SentencePieceTokenizer::SentencePieceTokenizer() : processor_(std::make_unique<spm::Processor>()) {}
SentencePieceTokenizer::SentencePieceTokenizer(SentencePieceTokenizer&&) noexcept = default;
SentencePieceTokenizer& SentencePieceTokenizer::operator=(SentencePieceTokenizer&&) noexcept =
    default;
SentencePieceTokenizer::~SentencePieceTokenizer() = default;

absl::StatusOr<SentencePieceTokenizer> SentencePieceTokenizer::Load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("tokenizer model ", path, " not found"));
  std::stringstream bytes;
  bytes << in.rdbuf();
  return FromSerialized(bytes.str(), path);
}

absl::StatusOr<SentencePieceTokenizer> SentencePieceTokenizer::FromSerialized(
    std::string_view model, const std::string& what) {
  SentencePieceTokenizer t;
  if (const std::string error = t.processor_->LoadSerialized(model); !error.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " is not a SentencePiece model (tokenizer.model): ", error));
  }
  t.serialized_ = std::string(model);
  return t;
}

std::vector<int32_t> SentencePieceTokenizer::Encode(std::string_view text) const {
  const std::vector<int> ids = processor_->Encode(text);
  return std::vector<int32_t>(ids.begin(), ids.end());
}

std::string SentencePieceTokenizer::Decode(std::span<const int32_t> ids) const {
  return processor_->Decode(std::vector<int>(ids.begin(), ids.end()));
}

int SentencePieceTokenizer::vocab_size() const { return processor_->size(); }
int SentencePieceTokenizer::bos_id() const { return processor_->bos(); }
int SentencePieceTokenizer::eos_id() const { return processor_->eos(); }
std::string SentencePieceTokenizer::Piece(int32_t id) const { return processor_->piece(id); }

absl::Status TrainSentencePiece(const std::string& input, int vocab_size, SentencePieceType type,
                                const std::string& model_prefix) {
  const std::string args = absl::StrCat(
      "--input=", input, " --model_prefix=", model_prefix, " --vocab_size=", vocab_size,
      " --model_type=", type == SentencePieceType::kBpe ? "bpe" : "unigram",
      " --normalization_rule_name=identity --remove_extra_whitespaces=false"
      " --byte_fallback=true --split_digits=true --character_coverage=0.9999"
      " --allow_whitespace_only_pieces=true --max_sentence_length=100000"
      " --input_sentence_size=2000000 --shuffle_input_sentence=false --minloglevel=2");
  if (const std::string error = spm::Train(args); !error.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("SentencePiece training on ", input, " failed: ", error));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> SentencePieceBpeModel(const std::vector<std::string>& pieces,
                                                  const std::vector<std::pair<int, int>>& merges) {
  std::unordered_map<std::string, int> id_of;
  for (size_t i = 0; i < pieces.size(); ++i) id_of.emplace(pieces[i], static_cast<int>(i));
  std::vector<float> score(pieces.size(), 0.0f);
  for (size_t k = 0; k < merges.size(); ++k) {
    const auto [a, b] = merges[k];
    if (a < 0 || b < 0 || a >= int(pieces.size()) || b >= int(pieces.size())) {
      return absl::InvalidArgumentError(absl::StrCat("merge ", k, " names an id out of range"));
    }
    auto it = id_of.find(pieces[a] + pieces[b]);
    if (it == id_of.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("merge ", k, " (", pieces[a], " + ", pieces[b], ") is not a piece"));
    }
    score[it->second] = -static_cast<float>(k);
  }
  std::string model;
  for (size_t i = 0; i < pieces.size(); ++i) {
    const std::string& p = pieces[i];
    const int type = i == 0                                                   ? kUnknown
                     : i < 3                                                  ? kControl
                     : p.size() == 6 && p.rfind("<0x", 0) == 0 && p[5] == '>' ? kByte
                                                                              : kNormal;
    std::string piece;
    Bytes(1, p, &piece);
    Float(2, type == kNormal ? score[i] : 0.0f, &piece);
    Int(3, type, &piece);
    Bytes(1, piece, &model);  // ModelProto.pieces
  }
  std::string trainer;
  Int(3, 2, &trainer);  // model_type BPE
  Int(4, static_cast<int64_t>(pieces.size()), &trainer);
  Int(35, 1, &trainer);   // byte_fallback
  Int(40, 0, &trainer);   // unk_id
  Int(41, 1, &trainer);   // bos_id
  Int(42, 2, &trainer);   // eos_id
  Int(43, -1, &trainer);  // pad_id
  Bytes(2, trainer, &model);
  std::string normalizer;
  Bytes(1, "identity", &normalizer);
  Int(3, 1, &normalizer);  // add_dummy_prefix
  Int(4, 0, &normalizer);  // remove_extra_whitespaces
  Int(5, 1, &normalizer);  // escape_whitespaces
  Bytes(3, normalizer, &model);
  return model;
}

}  // namespace dqt
