// Export of a dqt model as a Hugging Face transformers LlamaForCausalLM directory: weights in
// model.safetensors, config.json, and the GPT-2 tokenizer files GPT2Tokenizer(Fast) reads.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "core/model/llama_config.h"
#include "core/model/llama_params.h"
#include "launch/model_loading.h"

namespace dqt {

// Formats dqt_export knows, for its --format flag and error messages.
inline constexpr const char* kExportFormats[] = {"safetensors", "gguf"};

// config.json for transformers' LlamaForCausalLM. `eos_id` < 0 writes null bos/eos ids.
std::string HuggingFaceLlamaConfig(const LlamaConfig& config, int eos_id);

// One sentence on what transformers computes from an export of a model of `config` (a config
// LoadModel gave as trained: quant.int8_activations says whether the checkpoint was trained with
// int8 activations). dqt_export prints it; config.json carries it as "dqt_note".
std::string HuggingFaceComputes(const LlamaConfig& config);

// Writes `out_dir` (created if missing; existing files of the same names are replaced, each
// atomically): model.safetensors (every tensor F32 under its Hugging Face name, metadata
// format=pt) and config.json. With `tokenizer` also vocab.json and merges.txt (byte copies of
// encoder.json and vocab.bpe, after the tokenizer loads and matches the pinned hashes),
// tokenizer_config.json, special_tokens_map.json and generation_config.json, with
// <|endoftext|> as bos, eos and unk; the model's vocabulary must then cover the tokenizer's.
// A SubLN model has norms LlamaForCausalLM does not have: FailedPreconditionError.
[[nodiscard]] absl::Status ExportHuggingFaceLlama(const LlamaParams& params,
                                                  const std::string& out_dir,
                                                  const TokenizerPaths* tokenizer);

}  // namespace dqt
