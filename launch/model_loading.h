// What dqt_eval, dqt_generate and dqt_export share: a checkpoint loaded into a LlamaModel, the
// GPT-2 tokenizer from --encoder/--vocab, and the check that the two fit together.
#pragma once

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/model/llama.h"
#include "core/model/llama_config.h"
#include "data/gpt2_tokenizer.h"
#include "launch/file_io.h"
#include "launch/flags.h"

namespace dqt {

// Relative to the working directory: the binaries are run from the repository root, where
// launch/fetch_data.sh puts the pinned files.
inline constexpr char kDefaultEncoderJson[] = "data_cache/encoder.json";
inline constexpr char kDefaultVocabBpe[] = "data_cache/vocab.bpe";

struct TokenizerPaths {
  std::string encoder_json = kDefaultEncoderJson;
  std::string vocab_bpe = kDefaultVocabBpe;
  // A SentencePiece tokenizer.model used instead of the GPT-2 files (dqt_export --format gguf).
  std::string spm_model;
};

// Declares --encoder and --vocab on `flags`, writing into `paths`.
void DeclareTokenizerFlags(Flags& flags, TokenizerPaths* paths);

// The GPT-2 tokenizer (hash-checked against the pinned files); errors name the flag to fix.
[[nodiscard]] absl::StatusOr<Gpt2Tokenizer> LoadTokenizer(const TokenizerPaths& paths);

// A shape the model code can build: positive sizes, heads dividing d_model, kv heads dividing
// heads, an even head dim (RoPE pairs), finite positive eps and theta. A checkpoint's manifest
// passes through this before any allocation, so a bad one is an error, not a crash.
[[nodiscard]] absl::Status ValidateModelShape(const LlamaConfig& config);

// Reads checkpoint directory `path` (verified: manifest and shard checksums) into a newly built
// fp32 model.
[[nodiscard]] absl::StatusOr<std::unique_ptr<LlamaModel>> LoadModel(const std::string& path);

// The model must embed every id the tokenizer can produce (a larger, padded vocabulary is fine).
[[nodiscard]] absl::Status CheckTokenizerFits(const LlamaConfig& config,
                                              const Gpt2Tokenizer& tokenizer);

}  // namespace dqt
