// What dqt_eval, dqt_generate and dqt_export share: a checkpoint loaded into a LlamaModel, the
// GPT-2 tokenizer from --encoder/--vocab, and the check that the two fit together.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/model/llama.h"
#include "core/model/llama_config.h"
#include "core/train/checkpoint.h"
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

// The activations an inference tool computes with: as the checkpoint was trained (per-token
// absmax int8 inputs to the quantized linears when quant.int8_activations was set), or full
// precision (--fp_activations; what Hugging Face's LlamaForCausalLM computes from an export).
enum class InferenceActivations { kAsTrained, kFloat };

// DataLoss naming the first tensor with a NaN or infinite weight; `logical` is the model's fp32
// weights in the logical layout (ParamTensor::offset).
[[nodiscard]] absl::Status CheckFiniteWeights(const std::vector<ParamTensor>& tensors,
                                              const float* logical);

// Declares --fp_activations on `flags`.
void DeclareActivationFlag(Flags& flags, bool* fp_activations);

// Reads checkpoint directory `path` (verified: manifest and shard checksums) into a newly built
// fp32 model holding each tensor's forward weights (DQT code / scale, BitNet's ternarized
// latents) that computes the trained function: the checkpoint's shape, SubLN and, unless
// `activations` is kFloat, its int8 activation quantization (every checkpoint records
// quant.int8_activations; a model line missing from one is an error, not a default). DataLoss
// naming the tensor when a weight is not finite.
[[nodiscard]] absl::StatusOr<std::unique_ptr<LlamaModel>> LoadModel(
    const std::string& path, InferenceActivations activations = InferenceActivations::kAsTrained);

// One line on what LoadModel(path, activations) computes, e.g. "DQT integer codes x scale (8-bit),
// int8 per-token absmax activations (as trained)".
[[nodiscard]] absl::StatusOr<std::string> DescribeInference(const std::string& path,
                                                            InferenceActivations activations);

// The model must embed every id the tokenizer can produce (a larger, padded vocabulary is fine).
[[nodiscard]] absl::Status CheckTokenizerFits(const LlamaConfig& config,
                                              const Gpt2Tokenizer& tokenizer);

}  // namespace dqt
