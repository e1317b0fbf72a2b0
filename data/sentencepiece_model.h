// A SentencePiece tokenizer.model (ModelProto) read by hand from the protobuf wire format (field
// numbers from sentencepiece_model.proto), without libsentencepiece: its pieces, scores and types
// and the special ids, for GGUF metadata and tokenizer identities. (libsentencepiece carries its
// own protobuf runtime, which cannot share a process with libprotobuf, e.g. dqt_worker's.)
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace dqt {

struct SentencePieceModelInfo {
  // SentencePiece.Type values.
  static constexpr int kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kUnused = 5,
                       kByte = 6;
  struct Piece {
    std::string piece;
    float score = 0.0f;
    int type = kNormal;
  };
  std::vector<Piece> pieces;  // in id order
  int model_type = 1;         // TrainerSpec.ModelType: 1 unigram, 2 BPE, 3 word, 4 char
  int unk_id = 0, bos_id = 1, eos_id = 2, pad_id = -1;
  bool byte_fallback = false;
  bool add_dummy_prefix = true;  // NormalizerSpec: a "▁" before the text
  bool escape_whitespaces = true;
};

// InvalidArgument naming `what` for bytes that are not a well-formed ModelProto with pieces
// (a GPT-2 encoder.json, a text file, a truncated model).
[[nodiscard]] absl::StatusOr<SentencePieceModelInfo> ParseSentencePieceModel(
    std::string_view bytes, const std::string& what);

}  // namespace dqt
