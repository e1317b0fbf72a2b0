// Checkpoint -> LlamaModel, tokenizer loading and file reads shared by the inference tools.
#include "launch/model_loading.h"

#include <cmath>
#include <filesystem>
#include <system_error>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/base/status.h"
#include "core/train/checkpoint.h"

namespace dqt {

void DeclareTokenizerFlags(Flags& flags, TokenizerPaths* paths) {
  flags.String("encoder", &paths->encoder_json, "GPT-2 encoder.json (token -> id)");
  flags.String("vocab", &paths->vocab_bpe, "GPT-2 vocab.bpe (merges in rank order)");
}

absl::StatusOr<Gpt2Tokenizer> LoadTokenizer(const TokenizerPaths& paths) {
  absl::StatusOr<Gpt2Tokenizer> tokenizer =
      Gpt2Tokenizer::Load(paths.encoder_json, paths.vocab_bpe);
  if (!tokenizer.ok()) {
    return absl::Status(
        tokenizer.status().code(),
        absl::StrCat("loading the tokenizer (--encoder ", paths.encoder_json, ", --vocab ",
                     paths.vocab_bpe,
                     "; launch/fetch_data.sh fetches them): ", tokenizer.status().message()));
  }
  return tokenizer;
}

absl::Status ValidateModelShape(const LlamaConfig& c) {
  auto bad = [](const std::string& why) {
    return absl::InvalidArgumentError(absl::StrCat("invalid model shape: ", why));
  };
  if (c.vocab_size < 1 || c.d_model < 1 || c.n_layers < 1 || c.n_heads < 1 || c.n_kv_heads < 1 ||
      c.ffn_dim < 1 || c.context < 1) {
    return bad(absl::StrFormat(
        "vocab_size %d, d_model %d, n_layers %d, n_heads %d, n_kv_heads %d, ffn_dim %d, "
        "context %d must all be positive",
        c.vocab_size, c.d_model, c.n_layers, c.n_heads, c.n_kv_heads, c.ffn_dim, c.context));
  }
  if (c.d_model % c.n_heads != 0 || c.head_dim() % 2 != 0) {
    return bad(
        absl::StrFormat("d_model %d / n_heads %d must be an even head dim", c.d_model, c.n_heads));
  }
  if (c.n_heads % c.n_kv_heads != 0) {
    return bad(absl::StrFormat("n_kv_heads %d must divide n_heads %d", c.n_kv_heads, c.n_heads));
  }
  if (!(std::isfinite(c.norm_eps) && c.norm_eps > 0) ||
      !(std::isfinite(c.rope_theta) && c.rope_theta > 0)) {
    return bad(absl::StrCat("norm_eps ", c.norm_eps, " and rope_theta ", c.rope_theta,
                            " must be finite and positive"));
  }
  return absl::OkStatus();
}

absl::Status CheckFiniteWeights(const std::vector<ParamTensor>& tensors, const float* logical) {
  for (const ParamTensor& t : tensors) {
    const float* v = logical + t.offset;
    for (int64_t i = 0; i < t.numel; ++i) {
      if (!std::isfinite(v[i])) {
        return absl::DataLossError(absl::StrCat("tensor ", t.name, " holds a non-finite weight (",
                                                v[i], " at element ", i,
                                                "): the run diverged or the file is damaged"));
      }
    }
  }
  return absl::OkStatus();
}

void DeclareActivationFlag(Flags& flags, bool* fp_activations) {
  flags.Bool("fp_activations", fp_activations,
             "full-precision activations even where the model was trained with int8 ones "
             "(quant.int8_activations): what Hugging Face computes from dqt_export's output");
}

namespace {

const char* WeightsText(const QuantConfig& q) {
  switch (q.optimizer) {
    case OptimizerKind::kFp:
      return "fp32 weights";
    case OptimizerKind::kBitNet:
      return "BitNet ternarized latents";
    case OptimizerKind::kDqt:
      return q.grid.kind == QuantGrid::Kind::kTernary ? "DQT ternary codes x scale"
                                                      : "DQT integer codes x scale";
  }
  return "weights";
}

}  // namespace

absl::StatusOr<std::string> DescribeInference(const std::string& path,
                                              InferenceActivations activations) {
  DQT_ASSIGN_OR_RETURN(const CheckpointInfo info, ReadCheckpointInfo(path));
  const QuantConfig& q = info.config.quant;
  std::string acts;
  if (!q.int8_activations) {
    acts = "fp32 activations (as trained)";
  } else if (activations == InferenceActivations::kAsTrained) {
    acts = "int8 per-token absmax activations (as trained)";
  } else {
    acts = "fp32 activations (--fp_activations; the model was trained with int8 ones)";
  }
  const bool integer = q.quantized() && q.grid.kind == QuantGrid::Kind::kInteger;
  return absl::StrCat(WeightsText(q), integer ? absl::StrCat(" (", q.grid.bits, "-bit)") : "",
                      info.config.subln ? ", SubLN" : "", ", ", acts);
}

absl::StatusOr<std::unique_ptr<LlamaModel>> LoadModel(const std::string& path,
                                                      InferenceActivations activations) {
  if (path.empty()) return absl::InvalidArgumentError("--ckpt is required");
  std::error_code ec;
  if (!std::filesystem::is_directory(path, ec)) {
    return absl::NotFoundError(
        absl::StrCat("checkpoint ", path,
                     " is not a directory; pass a step_NNNNNN directory of checkpoint.dir"));
  }
  DQT_ASSIGN_OR_RETURN(const CheckpointInfo info, ReadCheckpointInfo(path));
  if (absl::Status s = ValidateModelShape(info.config); !s.ok()) {
    return absl::DataLossError(absl::StrCat("checkpoint ", path, ": ", s.message()));
  }
  // Inference runs an fp32 model holding each tensor's forward weights (code / scale for DQT,
  // ternarized latents for BitNet), so every tool and --ternarize see plain weights; it keeps the
  // trained forward's activation quantization (the policy says whether the LM head's input was
  // quantized too) unless full-precision activations are asked for.
  LlamaConfig inference = info.config;
  inference.quant = QuantConfig{};
  inference.quant.policy = info.config.quant.policy;
  inference.quant.int8_activations =
      info.config.quant.int8_activations && activations == InferenceActivations::kAsTrained;
  // llama.cpp-style block rounding (quant.activation_block) is part of the trained rounding.
  inference.quant.activation_block =
      inference.quant.int8_activations ? info.config.quant.activation_block : 0;
  inference.quant.activation_scale_fp16 =
      inference.quant.activation_block > 0 && info.config.quant.activation_scale_fp16;
  auto model = std::make_unique<LlamaModel>(inference);
  if (absl::Status s = LoadCheckpointWeights(path, model->params()); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat("checkpoint ", path, ": ", s.message()));
  }
  // Every tensor of the inference model is fp32, so its values are in the logical layout.
  const LlamaParams& params = model->params();
  if (absl::Status s = CheckFiniteWeights(params.tensors(), params.values().data()); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat("checkpoint ", path, ": ", s.message()));
  }
  return model;
}

absl::Status CheckTokenizerFits(const LlamaConfig& config, const Gpt2Tokenizer& tokenizer) {
  if (config.vocab_size < tokenizer.vocab_size()) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "the model's vocabulary (%d) is smaller than the tokenizer's (%d): this checkpoint was "
        "not trained on GPT-2 tokens",
        config.vocab_size, tokenizer.vocab_size()));
  }
  return absl::OkStatus();
}

}  // namespace dqt
