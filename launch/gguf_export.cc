// dqt checkpoint -> llama.cpp GGUF ("llama" architecture). Tensor names and metadata keys are
// those of the GGUF specification's LLaMA section; q/k rows are reordered from Hugging Face's
// rotate_half RoPE to llama.cpp's interleaved pairs, as llama.cpp's own converter does.
#include "launch/gguf_export.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/base/status.h"
#include "core/model/llama_params.h"
#include "core/train/checkpoint.h"
#include "data/gpt2_files.h"
#include "data/sentencepiece_model.h"

namespace dqt {
namespace {

constexpr int32_t kTokenNormal = 1;
constexpr int32_t kTokenControl = 3;
constexpr int32_t kTokenUnused = 5;

// "model.layers.3.self_attn.q_proj.weight" -> "blk.3.attn_q.weight".
std::string GgufName(const std::string& hf) {
  static const std::map<std::string, std::string> kTop = {
      {"model.embed_tokens.weight", "token_embd.weight"},
      {"model.norm.weight", "output_norm.weight"},
      {"lm_head.weight", "output.weight"}};
  if (auto it = kTop.find(hf); it != kTop.end()) return it->second;
  static const std::map<std::string, std::string> kLayer = {
      {"input_layernorm.weight", "attn_norm.weight"},
      {"self_attn.q_proj.weight", "attn_q.weight"},
      {"self_attn.k_proj.weight", "attn_k.weight"},
      {"self_attn.v_proj.weight", "attn_v.weight"},
      {"self_attn.o_proj.weight", "attn_output.weight"},
      {"post_attention_layernorm.weight", "ffn_norm.weight"},
      {"mlp.gate_proj.weight", "ffn_gate.weight"},
      {"mlp.up_proj.weight", "ffn_up.weight"},
      {"mlp.down_proj.weight", "ffn_down.weight"}};
  const std::string prefix = "model.layers.";
  const size_t dot = hf.find('.', prefix.size());
  if (hf.rfind(prefix, 0) == 0 && dot != std::string::npos) {
    if (auto it = kLayer.find(hf.substr(dot + 1)); it != kLayer.end()) {
      return absl::StrCat("blk.", hf.substr(prefix.size(), dot - prefix.size()), ".", it->second);
    }
  }
  return "";
}

std::vector<uint8_t> AsBytes(std::span<const float> v) {
  std::vector<uint8_t> out(v.size() * sizeof(float));
  std::memcpy(out.data(), v.data(), out.size());
  return out;
}

std::vector<uint8_t> AsHalves(std::span<const float> v) {
  std::vector<uint8_t> out;
  out.reserve(v.size() * 2);
  for (float x : v) {
    const uint16_t h = FloatToHalf(x);
    out.push_back(static_cast<uint8_t>(h & 0xff));
    out.push_back(static_cast<uint8_t>(h >> 8));
  }
  return out;
}

// One matrix (rows, cols) in GGUF row order: w[r] and codes[r] are its logical row r, already
// RoPE-reordered. `codes` is empty for float storage.
struct Matrix {
  int64_t rows = 0, cols = 0;
  std::vector<float> w;
  std::vector<int8_t> codes;
};

// Ternary values: each row's nonzero entries share one magnitude. Fills codes, per-row d.
bool TernaryRows(const Matrix& m, std::vector<int8_t>* codes, std::vector<float>* mags) {
  codes->assign(m.w.size(), 0);
  mags->assign(m.rows, 0.0f);
  for (int64_t r = 0; r < m.rows; ++r) {
    float a = 0;
    for (int64_t c = 0; c < m.cols; ++c) {
      const float x = m.w[r * m.cols + c];
      if (x == 0) continue;
      if (a == 0) a = std::fabs(x);
      if (std::fabs(x) != a) return false;
      (*codes)[r * m.cols + c] = x > 0 ? 1 : -1;
    }
    (*mags)[r] = a;
  }
  return true;
}

absl::Status AddMatrix(const ParamTensor& t, const LlamaConfig& config, GgmlType ternary_type,
                       Matrix m, const std::string& name, GgufWriter* writer,
                       GgufExportReport* report) {
  GgufTensor out{name, {m.cols, m.rows}, GgmlType::kF32, {}};
  std::string note;
  const bool integer_codes =
      t.storage == ParamStorage::kCodes && config.quant.grid.kind == QuantGrid::Kind::kInteger;
  std::vector<int8_t> ternary;
  std::vector<float> mags;
  const bool is_ternary = t.kind == ParamKind::kLinear && t.storage != ParamStorage::kFloat &&
                          !integer_codes && TernaryRows(m, &ternary, &mags);
  if (is_ternary) {
    if (m.cols % GgmlBlockSize(GgmlType::kTQ2_0) != 0) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "tensor %s (%s) is ternary with rows of %d elements, but llama.cpp's ternary types "
          "(TQ2_0, TQ1_0) pack rows in blocks of 256: use d_model and ffn_dim that are "
          "multiples of 256 for a GGUF export",
          t.name, name, m.cols));
    }
    out.type = ternary_type;
    double worst = 0;
    for (int64_t r = 0; r < m.rows; ++r) {
      const uint16_t d = FloatToHalf(mags[r]);
      if (mags[r] != 0) worst = std::max(worst, std::fabs(HalfToFloat(d) / mags[r] - 1.0));
      const std::span<const int8_t> row = std::span(ternary).subspan(r * m.cols, m.cols);
      if (ternary_type == GgmlType::kTQ1_0) {
        PackTQ1_0(row, d, &out.data);
      } else {
        PackTQ2_0(row, d, &out.data);
      }
    }
    note = absl::StrFormat("ternary codes, d = fp16(1/scale): max relative change %.2g", worst);
  } else if (integer_codes) {
    // Exact Q8_0 needs d * code == code / scale for every element, with d one fp16 per row.
    bool exact = m.cols % GgmlBlockSize(GgmlType::kQ8_0) == 0;
    std::vector<uint16_t> ds(m.rows);
    for (int64_t r = 0; r < m.rows && exact; ++r) {
      // The row's unit as the forward sees it (per-tensor or per-channel scale alike).
      float unit = 0;
      for (int64_t c = 0; c < m.cols && unit == 0; ++c) {
        const int8_t code = m.codes[r * m.cols + c];
        if (code != 0) unit = m.w[r * m.cols + c] / code;
      }
      ds[r] = FloatToHalf(unit);
      const float d = HalfToFloat(ds[r]);
      for (int64_t c = 0; c < m.cols && exact; ++c) {
        exact = d * m.codes[r * m.cols + c] == m.w[r * m.cols + c];
      }
    }
    if (exact) {
      out.type = GgmlType::kQ8_0;
      for (int64_t r = 0; r < m.rows; ++r) {
        PackQ8_0(std::span(m.codes).subspan(r * m.cols, m.cols), ds[r], &out.data);
      }
      note = "integer codes, Q8_0 exact (d = 1/scale is an fp16 number)";
    } else {
      out.type = GgmlType::kF16;
      out.data = AsHalves(m.w);
      double worst = 0;
      for (float x : m.w) {
        if (x != 0) worst = std::max(worst, std::fabs(HalfToFloat(FloatToHalf(x)) / x - 1.0));
      }
      note = absl::StrFormat(
          "integer codes, F16 (Q8_0 would not be exact: 1/scale is not an fp16 number); max "
          "relative rounding %.2g",
          worst);
    }
  } else {
    out.data = AsBytes(m.w);
    note = "fp32 values";
  }
  report->tensors.push_back({name, out.type, note});
  writer->AddTensor(std::move(out));
  return absl::OkStatus();
}

}  // namespace

int64_t GgufRopeRow(int64_t row, int64_t head_dim) {
  const int64_t head = row / head_dim, k = row % head_dim, half = head_dim / 2;
  // new row 2i + j holds old row j * half + i; invert: old k = j * half + i -> new 2i + j.
  const int64_t j = k / half, i = k % half;
  return head * head_dim + 2 * i + j;
}

namespace {

// Tokenizer metadata, added to the writer after the model's.
using GgufKv = std::vector<std::pair<std::string, GgufValue>>;

// GPT-2 byte-level BPE; ids past the tokenizer's (a padded vocabulary) are unused tokens.
absl::Status AddGpt2Tokenizer(const LlamaConfig& c, const TokenizerPaths& paths, GgufKv* kv) {
  DQT_ASSIGN_OR_RETURN(Gpt2Tokenizer tokenizer, LoadTokenizer(paths));
  DQT_RETURN_IF_ERROR(CheckTokenizerFits(c, tokenizer));
  std::vector<std::string> tokens = tokenizer.token_symbols();
  std::vector<int32_t> types(tokens.size(), kTokenNormal);
  types[tokenizer.eot_id()] = kTokenControl;
  for (int id = tokenizer.vocab_size(); id < c.vocab_size; ++id) {
    tokens.push_back(absl::StrCat("[PAD", id, "]"));
    types.push_back(kTokenUnused);
  }
  std::vector<std::string> merges;
  merges.reserve(tokenizer.merges().size());
  for (const auto& [a, b] : tokenizer.merges()) merges.push_back(a + " " + b);
  kv->emplace_back("tokenizer.ggml.model", std::string("gpt2"));
  kv->emplace_back("tokenizer.ggml.pre", std::string("gpt-2"));
  kv->emplace_back("tokenizer.ggml.tokens", std::move(tokens));
  kv->emplace_back("tokenizer.ggml.token_type", std::move(types));
  kv->emplace_back("tokenizer.ggml.merges", std::move(merges));
  kv->emplace_back("tokenizer.ggml.bos_token_id", static_cast<uint32_t>(tokenizer.eot_id()));
  kv->emplace_back("tokenizer.ggml.eos_token_id", static_cast<uint32_t>(tokenizer.eot_id()));
  kv->emplace_back("tokenizer.ggml.add_bos_token", false);
  kv->emplace_back("tokenizer.ggml.add_eos_token", false);
  return absl::OkStatus();
}

// A SentencePiece tokenizer.model as llama.cpp's "llama" (SPM) vocabulary: pieces, scores and
// types in id order, the special ids, and whether a "▁" goes before the text (add_space_prefix,
// the model's add_dummy_prefix). llama.cpp merges by piece score, which is SentencePiece's own
// BPE order (score -k for merge k); a unigram model is refused (llama.cpp would not segment it
// as SentencePiece's Viterbi does).
absl::Status AddSentencePieceTokenizer(const LlamaConfig& c, const std::string& path, GgufKv* kv) {
  absl::StatusOr<std::string> bytes = ReadWholeFile(path);
  if (!bytes.ok()) {
    return absl::Status(bytes.status().code(),
                        absl::StrCat("--spm_model: ", bytes.status().message()));
  }
  DQT_ASSIGN_OR_RETURN(const SentencePieceModelInfo spm, ParseSentencePieceModel(*bytes, path));
  if (spm.model_type != 2) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": a SentencePiece model of type ", spm.model_type,
        " (1 unigram, 2 BPE); llama.cpp tokenizes like SentencePiece only for BPE models"));
  }
  const int n = static_cast<int>(spm.pieces.size());
  if (n > c.vocab_size) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, " has ", n, " pieces but the model's vocabulary is ", c.vocab_size,
                     "; the model must embed every id the tokenizer can produce"));
  }
  std::vector<std::string> tokens;
  std::vector<float> scores;
  std::vector<int32_t> types;
  for (const SentencePieceModelInfo::Piece& p : spm.pieces) {
    tokens.push_back(p.piece);
    scores.push_back(p.score);
    types.push_back(p.type);
  }
  for (int id = n; id < c.vocab_size; ++id) {
    tokens.push_back(absl::StrCat("[PAD", id, "]"));
    scores.push_back(0.0f);
    types.push_back(kTokenUnused);
  }
  kv->emplace_back("tokenizer.ggml.model", std::string("llama"));
  kv->emplace_back("tokenizer.ggml.tokens", std::move(tokens));
  kv->emplace_back("tokenizer.ggml.scores", std::move(scores));
  kv->emplace_back("tokenizer.ggml.token_type", std::move(types));
  kv->emplace_back("tokenizer.ggml.unknown_token_id", static_cast<uint32_t>(spm.unk_id));
  if (spm.bos_id >= 0)
    kv->emplace_back("tokenizer.ggml.bos_token_id", static_cast<uint32_t>(spm.bos_id));
  if (spm.eos_id >= 0)
    kv->emplace_back("tokenizer.ggml.eos_token_id", static_cast<uint32_t>(spm.eos_id));
  if (spm.pad_id >= 0) {
    kv->emplace_back("tokenizer.ggml.padding_token_id", static_cast<uint32_t>(spm.pad_id));
  }
  kv->emplace_back("tokenizer.ggml.add_space_prefix", spm.add_dummy_prefix);
  // dqt_prepare starts no text with <s> and ends each file with </s>: none added to a prompt.
  kv->emplace_back("tokenizer.ggml.add_bos_token", false);
  kv->emplace_back("tokenizer.ggml.add_eos_token", false);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<GgufExportReport> ExportGguf(const std::string& ckpt, const std::string& out_path,
                                            const TokenizerPaths& tokenizer_paths,
                                            GgmlType ternary) {
  if (ternary != GgmlType::kTQ2_0 && ternary != GgmlType::kTQ1_0) {
    return absl::InvalidArgumentError("ternary tensors are written as TQ2_0 or TQ1_0");
  }
  if (out_path.empty()) return absl::InvalidArgumentError("--out is required");
  std::error_code ec;
  if (!std::filesystem::is_directory(ckpt, ec)) {
    return absl::NotFoundError(absl::StrCat("checkpoint ", ckpt, " is not a directory"));
  }
  DQT_ASSIGN_OR_RETURN(const CheckpointInfo info, ReadCheckpointInfo(ckpt));
  const LlamaConfig& c = info.config;
  if (absl::Status s = ValidateModelShape(c); !s.ok()) {
    return absl::DataLossError(absl::StrCat("checkpoint ", ckpt, ": ", s.message()));
  }
  if (c.subln) {
    return absl::FailedPreconditionError(
        "this checkpoint uses BitNet SubLN norms, which llama.cpp's \"llama\" architecture has "
        "no place for; only subln=false models can be exported as GGUF");
  }
  // The tokenizer first (its metadata is added after the model's), so a problem with it costs
  // no checkpoint read.
  GgufKv tokenizer_kv;
  if (tokenizer_paths.spm_model.empty()) {
    DQT_RETURN_IF_ERROR(AddGpt2Tokenizer(c, tokenizer_paths, &tokenizer_kv));
  } else {
    DQT_RETURN_IF_ERROR(AddSentencePieceTokenizer(c, tokenizer_paths.spm_model, &tokenizer_kv));
  }

  LlamaParams params(c);  // as stored: DQT codes stay codes
  DQT_RETURN_IF_ERROR(RestoreCheckpoint(ckpt, params, nullptr).status());
  std::vector<float> logical(params.numel());
  params.LogicalValues(logical.data());
  if (absl::Status s = CheckFiniteWeights(params.tensors(), logical.data()); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat("checkpoint ", ckpt, ": ", s.message()));
  }

  GgufWriter writer;
  writer.Add("general.architecture", std::string("llama"));
  writer.Add("general.name", std::string("dqt"));
  writer.Add("general.alignment", uint32_t{32});
  writer.Add("llama.vocab_size", static_cast<uint32_t>(c.vocab_size));
  writer.Add("llama.context_length", static_cast<uint32_t>(c.context));
  writer.Add("llama.embedding_length", static_cast<uint32_t>(c.d_model));
  writer.Add("llama.block_count", static_cast<uint32_t>(c.n_layers));
  writer.Add("llama.feed_forward_length", static_cast<uint32_t>(c.ffn_dim));
  writer.Add("llama.attention.head_count", static_cast<uint32_t>(c.n_heads));
  writer.Add("llama.attention.head_count_kv", static_cast<uint32_t>(c.n_kv_heads));
  writer.Add("llama.attention.layer_norm_rms_epsilon", c.norm_eps);
  writer.Add("llama.rope.freq_base", c.rope_theta);
  writer.Add("llama.rope.dimension_count", static_cast<uint32_t>(c.head_dim()));
  for (auto& [key, value] : tokenizer_kv) writer.Add(std::move(key), std::move(value));

  GgufExportReport report;
  for (const ParamTensor& t : params.tensors()) {
    const std::string name = GgufName(t.name);
    if (name.empty()) {
      return absl::InternalError(absl::StrCat("no GGUF name for tensor ", t.name));
    }
    const std::span<const float> w(logical.data() + t.offset, static_cast<size_t>(t.numel));
    if (t.shape.size() == 1) {
      writer.AddTensor({name, {t.shape[0]}, GgmlType::kF32, AsBytes(w)});
      report.tensors.push_back({name, GgmlType::kF32, "fp32 values"});
      continue;
    }
    Matrix m{t.shape[0], t.shape[1], std::vector<float>(t.numel), {}};
    const bool q = t.name.find("q_proj") != std::string::npos;
    const bool k = t.name.find("k_proj") != std::string::npos;
    const int8_t* codes =
        t.storage == ParamStorage::kCodes ? params.codes().data() + t.code_offset : nullptr;
    if (codes != nullptr) m.codes.resize(t.numel);
    for (int64_t r = 0; r < m.rows; ++r) {
      const int64_t dst = q || k ? GgufRopeRow(r, c.head_dim()) : r;
      std::copy_n(w.data() + r * m.cols, m.cols, m.w.data() + dst * m.cols);
      if (codes != nullptr) std::copy_n(codes + r * m.cols, m.cols, m.codes.data() + dst * m.cols);
    }
    DQT_RETURN_IF_ERROR(AddMatrix(t, c, ternary, std::move(m), name, &writer, &report));
  }
  DQT_RETURN_IF_ERROR(writer.Write(out_path));
  report.bytes = static_cast<int64_t>(std::filesystem::file_size(out_path, ec));
  return report;
}

}  // namespace dqt
