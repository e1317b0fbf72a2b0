// Hugging Face LlamaForCausalLM -> dqt: names and (out, in) layouts are already dqt's (the
// exporter writes them as they are), so import is a lookup, a widening to fp32 and a copy.
#include "launch/hf_import.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/base/status.h"
#include "launch/file_io.h"
#include "launch/gguf.h"
#include "launch/json.h"
#include "launch/model_loading.h"
#include "launch/safetensors.h"

namespace dqt {
namespace {

absl::StatusOr<double> Number(const JsonValue& root, const char* key, double fallback,
                              bool required) {
  const JsonValue* v = root.Find(key);
  if (v == nullptr || v->type == JsonValue::Type::kNull) {
    if (required)
      return absl::InvalidArgumentError(absl::StrCat("config.json: \"", key, "\" is missing"));
    return fallback;
  }
  if (v->type != JsonValue::Type::kNumber) {
    return absl::InvalidArgumentError(absl::StrCat("config.json: \"", key, "\" is not a number"));
  }
  return v->number;
}

std::vector<float> Widen(const SafetensorsFile& file, const SafetensorsEntry& e) {
  const size_t n = (e.end - e.begin) / (e.dtype == "F32" ? 4 : 2);
  std::vector<float> out(n);
  const char* p = file.data.data() + e.begin;
  for (size_t i = 0; i < n; ++i) {
    if (e.dtype == "F32") {
      std::memcpy(&out[i], p + 4 * i, 4);
    } else {
      uint16_t h;
      std::memcpy(&h, p + 2 * i, 2);
      out[i] =
          e.dtype == "F16" ? HalfToFloat(h) : std::bit_cast<float>(static_cast<uint32_t>(h) << 16);
    }
  }
  return out;
}

}  // namespace

absl::StatusOr<LlamaConfig> HuggingFaceLlamaConfigFromJson(const std::string& text) {
  DQT_ASSIGN_OR_RETURN(const JsonValue root, ParseJson(text));
  if (root.type != JsonValue::Type::kObject) {
    return absl::InvalidArgumentError("config.json is not a JSON object");
  }
  if (const JsonValue* t = root.Find("model_type"); t != nullptr && t->text != "llama") {
    return absl::InvalidArgumentError(
        absl::StrCat("config.json: model_type \"", t->text, "\", expected \"llama\""));
  }
  if (const JsonValue* s = root.Find("rope_scaling");
      s != nullptr && s->type != JsonValue::Type::kNull) {
    return absl::InvalidArgumentError("config.json: rope_scaling is not supported (null only)");
  }
  for (const char* key : {"attention_bias", "mlp_bias"}) {
    if (const JsonValue* b = root.Find(key); b != nullptr && b->boolean) {
      return absl::InvalidArgumentError(absl::StrCat("config.json: ", key, " is not supported"));
    }
  }
  if (const JsonValue* a = root.Find("hidden_act"); a != nullptr && a->text != "silu") {
    return absl::InvalidArgumentError(
        absl::StrCat("config.json: hidden_act \"", a->text, "\", expected \"silu\""));
  }
  LlamaConfig c;
  DQT_ASSIGN_OR_RETURN(const double vocab, Number(root, "vocab_size", 0, true));
  DQT_ASSIGN_OR_RETURN(const double hidden, Number(root, "hidden_size", 0, true));
  DQT_ASSIGN_OR_RETURN(const double ffn, Number(root, "intermediate_size", 0, true));
  DQT_ASSIGN_OR_RETURN(const double layers, Number(root, "num_hidden_layers", 0, true));
  DQT_ASSIGN_OR_RETURN(const double heads, Number(root, "num_attention_heads", 0, true));
  DQT_ASSIGN_OR_RETURN(const double kv, Number(root, "num_key_value_heads", heads, false));
  DQT_ASSIGN_OR_RETURN(const double context, Number(root, "max_position_embeddings", 0, true));
  DQT_ASSIGN_OR_RETURN(const double eps, Number(root, "rms_norm_eps", 1e-6, false));
  DQT_ASSIGN_OR_RETURN(const double theta, Number(root, "rope_theta", 10000, false));
  DQT_ASSIGN_OR_RETURN(const double init, Number(root, "initializer_range", 0.02, false));
  c.vocab_size = static_cast<int>(vocab);
  c.d_model = static_cast<int>(hidden);
  c.ffn_dim = static_cast<int>(ffn);
  c.n_layers = static_cast<int>(layers);
  c.n_heads = static_cast<int>(heads);
  c.n_kv_heads = static_cast<int>(kv);
  c.context = static_cast<int>(context);
  c.norm_eps = static_cast<float>(eps);
  c.rope_theta = static_cast<float>(theta);
  c.init_std = static_cast<float>(init);
  DQT_RETURN_IF_ERROR(ValidateModelShape(c));
  DQT_ASSIGN_OR_RETURN(const double head_dim, Number(root, "head_dim", c.head_dim(), false));
  if (head_dim != c.head_dim()) {
    return absl::InvalidArgumentError(
        absl::StrCat("config.json: head_dim ", head_dim, " != hidden_size / num_attention_heads"));
  }
  return c;
}

absl::StatusOr<std::unique_ptr<LlamaParams>> ImportHuggingFaceLlama(const std::string& dir) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    return absl::NotFoundError(absl::StrCat(dir, " is not a directory"));
  }
  DQT_ASSIGN_OR_RETURN(const std::string config_text,
                       ReadWholeFile(dir + "/config.json", "Hugging Face config"));
  absl::StatusOr<LlamaConfig> config = HuggingFaceLlamaConfigFromJson(config_text);
  if (!config.ok()) {
    return absl::Status(config.status().code(),
                        absl::StrCat(dir, "/config.json: ", config.status().message()));
  }
  bool tied = false;
  if (absl::StatusOr<JsonValue> root = ParseJson(config_text); root.ok()) {
    const JsonValue* t = root->Find("tie_word_embeddings");
    tied = t != nullptr && t->boolean;
  }
  std::vector<std::string> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    if (entry.path().extension() == ".safetensors") files.push_back(entry.path().string());
  }
  std::sort(files.begin(), files.end());
  if (files.empty()) return absl::NotFoundError(absl::StrCat("no *.safetensors in ", dir));

  auto params = std::make_unique<LlamaParams>(*config);
  std::map<std::string, const ParamTensor*> wanted;
  for (const ParamTensor& t : params->tensors()) wanted[t.name] = &t;
  std::vector<float> logical(params->numel());
  std::set<std::string> seen;
  for (const std::string& path : files) {
    DQT_ASSIGN_OR_RETURN(const SafetensorsFile file, ReadSafetensors(path));
    for (const SafetensorsEntry& e : file.tensors) {
      auto it = wanted.find(e.name);
      if (it == wanted.end()) {
        if (e.name.find("rotary_emb.inv_freq") != std::string::npos) continue;  // derived
        return absl::InvalidArgumentError(
            absl::StrCat(path, ": tensor \"", e.name, "\" has no place in dqt's LLaMA"));
      }
      if (!seen.insert(e.name).second) {
        return absl::InvalidArgumentError(
            absl::StrCat(path, ": tensor \"", e.name, "\" appears in more than one file"));
      }
      const ParamTensor& t = *it->second;
      if (e.shape != t.shape) {
        return absl::InvalidArgumentError(absl::StrCat(
            path, ": tensor \"", e.name, "\" has shape [", absl::StrJoin(e.shape, ", "),
            "], config.json implies [", absl::StrJoin(t.shape, ", "), "]"));
      }
      if (e.dtype != "F32" && e.dtype != "F16" && e.dtype != "BF16") {
        return absl::InvalidArgumentError(absl::StrCat(path, ": tensor \"", e.name, "\" is ",
                                                       e.dtype, "; F32, F16 or BF16 expected"));
      }
      const std::vector<float> v = Widen(file, e);
      std::copy(v.begin(), v.end(), logical.begin() + t.offset);
    }
  }
  for (const ParamTensor& t : params->tensors()) {
    if (seen.count(t.name) != 0) continue;
    if (t.name == "lm_head.weight" && tied && seen.count("model.embed_tokens.weight") != 0) {
      const ParamTensor& embed = params->tensors().front();
      std::copy_n(logical.begin() + embed.offset, embed.numel, logical.begin() + t.offset);
      continue;
    }
    return absl::InvalidArgumentError(
        absl::StrCat(dir, ": tensor \"", t.name, "\" is missing from the safetensors files"));
  }
  params->SetLogicalValues(logical.data());
  return params;
}

}  // namespace dqt
