// ModelProto wire-format reader (see sentencepiece_model.h).
#include "data/sentencepiece_model.h"

#include <bit>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "core/base/status.h"

namespace dqt {
namespace {

// One protobuf message's fields in order; Next() is false at the end or on malformed input
// (then ok() is false).
class WireReader {
 public:
  explicit WireReader(std::string_view bytes) : rest_(bytes) {}
  bool ok() const { return ok_; }

  struct Field {
    int number = 0;
    int wire = 0;
    uint64_t value = 0;     // varint and fixed32
    std::string_view data;  // length-delimited
  };

  bool Next(Field* f) {
    if (rest_.empty() || !ok_) return false;
    uint64_t key;
    if (!Varint(&key) || (key >> 3) == 0) return Fail();
    f->number = static_cast<int>(key >> 3);
    f->wire = static_cast<int>(key & 7);
    switch (f->wire) {
      case 0:
        return Varint(&f->value) || Fail();
      case 1:
        if (rest_.size() < 8) return Fail();
        rest_.remove_prefix(8);
        return true;
      case 2: {
        uint64_t n;
        if (!Varint(&n) || n > rest_.size()) return Fail();
        f->data = rest_.substr(0, n);
        rest_.remove_prefix(n);
        return true;
      }
      case 5: {
        if (rest_.size() < 4) return Fail();
        uint32_t v;
        std::memcpy(&v, rest_.data(), 4);
        f->value = v;
        rest_.remove_prefix(4);
        return true;
      }
      default:
        return Fail();
    }
  }

 private:
  bool Fail() {
    ok_ = false;
    return false;
  }
  bool Varint(uint64_t* v) {
    *v = 0;
    for (int shift = 0; shift < 64 && !rest_.empty(); shift += 7) {
      const auto byte = static_cast<uint8_t>(rest_.front());
      rest_.remove_prefix(1);
      *v |= uint64_t(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) return true;
    }
    return false;
  }

  std::string_view rest_;
  bool ok_ = true;
};

}  // namespace

absl::StatusOr<SentencePieceModelInfo> ParseSentencePieceModel(std::string_view bytes,
                                                               const std::string& what) {
  auto bad = [&](const std::string& why) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " is not a SentencePiece model (tokenizer.model): ", why));
  };
  SentencePieceModelInfo info;
  WireReader model(bytes);
  WireReader::Field f;
  while (model.Next(&f)) {
    if (f.number == 1 && f.wire == 2) {  // ModelProto.pieces
      SentencePieceModelInfo::Piece piece;
      bool has_piece = false;
      WireReader reader(f.data);
      WireReader::Field g;
      while (reader.Next(&g)) {
        if (g.number == 1 && g.wire == 2) piece.piece = std::string(g.data), has_piece = true;
        if (g.number == 2 && g.wire == 5) piece.score = std::bit_cast<float>(uint32_t(g.value));
        if (g.number == 3 && g.wire == 0) piece.type = static_cast<int>(g.value);
      }
      if (!reader.ok() || !has_piece) {
        return bad(absl::StrCat("piece ", info.pieces.size(), " is malformed"));
      }
      if (piece.type < 1 || piece.type > 6) {
        return bad(absl::StrCat("piece ", info.pieces.size(), " has unknown type ", piece.type));
      }
      info.pieces.push_back(std::move(piece));
    } else if (f.number == 2 && f.wire == 2) {  // TrainerSpec
      WireReader reader(f.data);
      WireReader::Field g;
      while (reader.Next(&g)) {
        if (g.wire != 0) continue;
        const int v = static_cast<int>(static_cast<int32_t>(g.value));
        if (g.number == 3) info.model_type = v;
        if (g.number == 35) info.byte_fallback = v != 0;
        if (g.number == 40) info.unk_id = v;
        if (g.number == 41) info.bos_id = v;
        if (g.number == 42) info.eos_id = v;
        if (g.number == 43) info.pad_id = v;
      }
      if (!reader.ok()) return bad("its trainer_spec is malformed");
    } else if (f.number == 3 && f.wire == 2) {  // NormalizerSpec
      WireReader reader(f.data);
      WireReader::Field g;
      while (reader.Next(&g)) {
        if (g.number == 3 && g.wire == 0) info.add_dummy_prefix = g.value != 0;
        if (g.number == 5 && g.wire == 0) info.escape_whitespaces = g.value != 0;
      }
      if (!reader.ok()) return bad("its normalizer_spec is malformed");
    }
  }
  if (!model.ok()) return bad("not a protobuf message");
  if (info.pieces.empty()) return bad("it has no pieces");
  const int n = static_cast<int>(info.pieces.size());
  for (const int id : {info.unk_id, info.bos_id, info.eos_id, info.pad_id}) {
    if (id >= n) return bad(absl::StrCat("special id ", id, " is past its ", n, " pieces"));
  }
  return info;
}

}  // namespace dqt
