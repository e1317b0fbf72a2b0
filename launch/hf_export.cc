// Hugging Face LlamaForCausalLM export: tensor names and (out, in) layouts already match
// transformers' (LlamaParams uses its names; RoPE is the rotate_half convention), so the
// weights are written as they are.
#include "launch/hf_export.h"

#include <cstdlib>
#include <filesystem>
#include <span>
#include <system_error>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/base/status.h"
#include "launch/file_io.h"
#include "launch/json.h"
#include "launch/safetensors.h"

namespace dqt {
namespace {

constexpr char kEndOfText[] = "<|endoftext|>";

// The shortest decimal that reads back (as a float) to `value`, always with a '.' or exponent
// so Python's json reads a float: 1e-5f -> "1e-05", 10000 -> "10000.0".
std::string FloatJson(float value) {
  std::string s;
  for (int digits = 6; digits <= 9; ++digits) {
    s = absl::StrFormat("%.*g", digits, value);
    if (std::strtof(s.c_str(), nullptr) == value) break;
  }
  if (s.find_first_of(".en") == std::string::npos) s += ".0";
  return s;
}

std::string IdJson(int id) { return id < 0 ? "null" : absl::StrCat(id); }

absl::Status WriteText(const std::string& dir, const char* name, std::string_view text) {
  const std::string_view parts[] = {text};
  return WriteFileAtomically(dir + "/" + name, parts);
}

// Returns the id of <|endoftext|>.
absl::StatusOr<int> WriteTokenizerFiles(const LlamaConfig& config, const std::string& dir,
                                        const TokenizerPaths& paths) {
  DQT_ASSIGN_OR_RETURN(Gpt2Tokenizer tokenizer, LoadTokenizer(paths));
  DQT_RETURN_IF_ERROR(CheckTokenizerFits(config, tokenizer));
  DQT_ASSIGN_OR_RETURN(std::string encoder, ReadWholeFile(paths.encoder_json, "encoder file"));
  DQT_ASSIGN_OR_RETURN(std::string merges, ReadWholeFile(paths.vocab_bpe, "merges file"));
  DQT_RETURN_IF_ERROR(WriteText(dir, "vocab.json", encoder));
  DQT_RETURN_IF_ERROR(WriteText(dir, "merges.txt", merges));
  const std::string eot = JsonQuote(kEndOfText);
  const int eot_id = tokenizer.eot_id();
  // clean_up_tokenization_spaces=false: decode(encode(text)) == text, as in dqt's tokenizer.
  DQT_RETURN_IF_ERROR(WriteText(
      dir, "tokenizer_config.json",
      absl::StrFormat(
          "{\n  \"tokenizer_class\": \"GPT2Tokenizer\",\n  \"model_max_length\": %d,\n"
          "  \"bos_token\": %s,\n  \"eos_token\": %s,\n  \"unk_token\": %s,\n"
          "  \"pad_token\": null,\n  \"add_bos_token\": false,\n  \"add_prefix_space\": false,\n"
          "  \"errors\": \"replace\",\n  \"clean_up_tokenization_spaces\": false,\n"
          "  \"added_tokens_decoder\": {\n    \"%d\": {\"content\": %s, \"lstrip\": false, "
          "\"normalized\": true, \"rstrip\": false, \"single_word\": false, \"special\": true}\n"
          "  }\n}\n",
          config.context, eot, eot, eot, eot_id, eot)));
  DQT_RETURN_IF_ERROR(WriteText(
      dir, "special_tokens_map.json",
      absl::StrFormat("{\n  \"bos_token\": %s,\n  \"eos_token\": %s,\n  \"unk_token\": %s\n}\n",
                      eot, eot, eot)));
  DQT_RETURN_IF_ERROR(
      WriteText(dir, "generation_config.json",
                absl::StrFormat("{\n  \"bos_token_id\": %d,\n  \"eos_token_id\": %d,\n"
                                "  \"pad_token_id\": %d\n}\n",
                                eot_id, eot_id, eot_id)));
  return eot_id;
}

}  // namespace

std::string HuggingFaceComputes(const LlamaConfig& c) {
  return c.quant.int8_activations
             ? "Hugging Face's LlamaForCausalLM computes this export with full-precision "
               "activations; the model was trained with int8 per-token activations, so it equals "
               "dqt_eval --fp_activations, not dqt_eval as trained"
             : "Hugging Face's LlamaForCausalLM computes this export as trained (fp32 "
               "activations): it equals dqt_eval";
}

std::string HuggingFaceLlamaConfig(const LlamaConfig& c, int eos_id) {
  return absl::StrCat(
      "{\n  \"architectures\": [\"LlamaForCausalLM\"],\n  \"model_type\": \"llama\",\n",
      "  \"vocab_size\": ", c.vocab_size, ",\n  \"hidden_size\": ", c.d_model,
      ",\n  \"intermediate_size\": ", c.ffn_dim, ",\n  \"num_hidden_layers\": ", c.n_layers,
      ",\n  \"num_attention_heads\": ", c.n_heads, ",\n  \"num_key_value_heads\": ", c.n_kv_heads,
      ",\n  \"head_dim\": ", c.head_dim(), ",\n  \"max_position_embeddings\": ", c.context,
      ",\n  \"rms_norm_eps\": ", FloatJson(c.norm_eps),
      ",\n  \"rope_theta\": ", FloatJson(c.rope_theta),
      ",\n  \"rope_scaling\": null,\n  \"hidden_act\": \"silu\",\n",
      "  \"initializer_range\": ", FloatJson(c.init_std),
      ",\n  \"tie_word_embeddings\": false,\n  \"attention_bias\": false,\n",
      "  \"attention_dropout\": 0.0,\n  \"mlp_bias\": false,\n  \"pretraining_tp\": 1,\n",
      "  \"use_cache\": true,\n  \"torch_dtype\": \"float32\",\n  \"bos_token_id\": ",
      IdJson(eos_id), ",\n  \"eos_token_id\": ", IdJson(eos_id),
      ",\n  \"dqt_trained_activations\": ", c.quant.int8_activations ? "\"int8\"" : "\"float\"",
      ",\n  \"dqt_note\": ", JsonQuote(HuggingFaceComputes(c)), "\n}\n");
}

absl::Status ExportHuggingFaceLlama(const LlamaParams& params, const std::string& out_dir,
                                    const TokenizerPaths* tokenizer) {
  const LlamaConfig& config = params.config();
  if (config.subln) {
    return absl::FailedPreconditionError(
        "this checkpoint uses BitNet SubLN norms (self_attn.attn_sub_norm, mlp.ffn_sub_norm), "
        "which transformers' LlamaForCausalLM has no place for; only subln=false models can be "
        "exported as Llama");
  }
  if (out_dir.empty()) return absl::InvalidArgumentError("--out is required");
  std::error_code ec;
  std::filesystem::create_directories(out_dir, ec);
  if (ec || !std::filesystem::is_directory(out_dir, ec)) {
    return absl::PermissionDeniedError(absl::StrCat("cannot create output directory ", out_dir,
                                                    ": ", ec ? ec.message() : "not a directory"));
  }
  int eos_id = -1;
  if (tokenizer != nullptr) {
    // First, so a tokenizer problem leaves no half-written export behind.
    DQT_ASSIGN_OR_RETURN(eos_id, WriteTokenizerFiles(config, out_dir, *tokenizer));
  }
  std::vector<SafetensorsTensor> tensors;
  for (const ParamTensor& t : params.tensors()) {
    tensors.push_back(SafetensorsTensor{
        t.name, t.shape,
        std::span<const float>(params.values().data() + t.offset, static_cast<size_t>(t.numel))});
  }
  DQT_RETURN_IF_ERROR(
      WriteSafetensors(out_dir + "/model.safetensors", tensors, {{"format", "pt"}}));
  return WriteText(out_dir, "config.json", HuggingFaceLlamaConfig(config, eos_id));
}

}  // namespace dqt
