// Import of a Hugging Face transformers LlamaForCausalLM directory (config.json + one or more
// *.safetensors, F32/F16/BF16) as a dqt fp32 model, to train, continue or quantize from.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "core/model/llama_config.h"
#include "core/model/llama_params.h"

namespace dqt {

// config.json -> LlamaConfig (fp32 storage). Refuses what dqt's LLaMA cannot represent: rope
// scaling, attention or MLP biases, an activation other than silu, head_dim != hidden/heads.
[[nodiscard]] absl::StatusOr<LlamaConfig> HuggingFaceLlamaConfigFromJson(const std::string& text);

// Reads `dir` into fp32 params: every tensor LlamaParams names must appear exactly once across
// the *.safetensors files with its shape (lm_head.weight may be absent when
// tie_word_embeddings is true: the embedding is copied); unknown tensors are an error (a model
// dqt would silently change). F16/BF16 widen exactly to fp32.
[[nodiscard]] absl::StatusOr<std::unique_ptr<LlamaParams>> ImportHuggingFaceLlama(
    const std::string& dir);

}  // namespace dqt
