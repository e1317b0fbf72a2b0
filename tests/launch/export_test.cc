// Hugging Face export (launch/hf_export.h, launch/safetensors.h): the safetensors bytes read back
// exactly, the reader refuses malformed files, and an independent numpy LlamaForCausalLM
// (tests/launch/hf_llama_reference.py) computes the same logits as LlamaModel from the export.
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "core/model/llama.h"
#include "core/train/checkpoint.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "launch/hf_export.h"
#include "launch/json.h"
#include "launch/model_loading.h"
#include "launch/safetensors.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/tiny_model.h"

namespace dqt {
namespace {

using ::dqt::testing::DataPath;
using ::dqt::testing::IsOk;
using ::dqt::testing::StatusIs;
using ::testing::HasSubstr;

// GQA (4 query heads over 2 kv heads), an odd vocabulary and an FFN width that is no power of
// two, a non-default RoPE theta, and an eps large enough to matter next to mean(x^2) ~ 1, so
// config.json must carry both for the reference logits to match.
LlamaConfig TinyConfig() {
  LlamaConfig c = testing::TinyModel({.vocab = 97, .d_model = 32, .ffn = 48, .context = 16});
  c.rope_theta = 500.0f;
  c.norm_eps = 0.05f;
  return c;
}

// Weights with O(1) activations everywhere: unit-variance embeddings, 1/sqrt(fan_in) matrices,
// norm gains 1 +- 0.3. With the default 0.02 init the attention would be nearly uniform and the
// logits tiny, so a RoPE or GQA convention error could hide below any float tolerance.
void RandomizeWeights(LlamaParams& params, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (const ParamTensor& t : params.tensors()) {
    float* v = params.values().data() + t.offset;
    const float fan_in = t.shape.size() == 2 ? static_cast<float>(t.shape[1]) : 1.0f;
    for (int64_t i = 0; i < t.numel; ++i) {
      switch (t.kind) {
        case ParamKind::kNorm:
          v[i] = 1.0f + 0.3f * normal(rng);
          break;
        case ParamKind::kEmbedding:
          v[i] = normal(rng);
          break;
        case ParamKind::kLinear:
          v[i] = normal(rng) / std::sqrt(fan_in);
          break;
        case ParamKind::kHead:
          v[i] = 2.0f * normal(rng) / std::sqrt(fan_in);
          break;
      }
    }
  }
}

class ExportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/dqt_export_test_XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Saves a randomized model as a checkpoint and loads it back the way the tools do.
  std::unique_ptr<LlamaModel> SavedAndLoaded(const LlamaConfig& config) {
    LlamaParams params(config);
    EXPECT_TRUE(params.Init().ok());
    RandomizeWeights(params, 7);
    absl::StatusOr<std::string> ckpt = SaveCheckpoint(dir_ + "/ckpt", params, nullptr, {1, 0});
    EXPECT_THAT(ckpt, IsOk());
    if (!ckpt.ok()) return nullptr;
    absl::StatusOr<std::unique_ptr<LlamaModel>> model = LoadModel(*ckpt);
    EXPECT_THAT(model, IsOk());
    if (!model.ok()) return nullptr;
    EXPECT_EQ(std::memcmp((*model)->params().values().data(), params.values().data(),
                          params.values().bytes()),
              0);
    return std::move(*model);
  }

  void WriteBytes(const std::string& name, const std::string& bytes) {
    std::ofstream(dir_ + "/" + name, std::ios::binary) << bytes;
  }

  std::string dir_;
};

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

TEST_F(ExportTest, SafetensorsHoldEveryTensorBitForBit) {
  std::unique_ptr<LlamaModel> model = SavedAndLoaded(TinyConfig());
  ASSERT_NE(model, nullptr);
  const std::string out = dir_ + "/hf";
  ASSERT_THAT(ExportHuggingFaceLlama(model->params(), out, nullptr), IsOk());

  absl::StatusOr<SafetensorsFile> file = ReadSafetensors(out + "/model.safetensors");
  ASSERT_THAT(file, IsOk());
  EXPECT_EQ(file->header_bytes % 8, 0u) << "tensors must start 8-byte aligned";
  ASSERT_EQ(file->metadata.size(), 1u);
  EXPECT_EQ(file->metadata[0].first, "format");
  EXPECT_EQ(file->metadata[0].second, "pt");
  const std::vector<ParamTensor>& tensors = model->params().tensors();
  ASSERT_EQ(file->tensors.size(), tensors.size());
  EXPECT_EQ(tensors.front().name, "model.embed_tokens.weight");
  EXPECT_EQ(tensors.back().name, "lm_head.weight");
  uint64_t offset = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const ParamTensor& t = tensors[i];
    const SafetensorsEntry& e = file->tensors[i];
    SCOPED_TRACE(t.name);
    EXPECT_EQ(e.name, t.name);
    EXPECT_EQ(e.dtype, "F32");
    EXPECT_EQ(e.shape, t.shape);
    EXPECT_EQ(e.begin, offset);
    EXPECT_EQ(e.end, offset + t.numel * sizeof(float));
    offset = e.end;
    ASSERT_LE(e.end, file->data.size());
    EXPECT_EQ(std::memcmp(file->data.data() + e.begin, model->params().values().data() + t.offset,
                          t.numel * sizeof(float)),
              0);
  }
  EXPECT_EQ(offset, file->data.size());
  const std::vector<int64_t> q_shape = {32, 32}, k_shape = {16, 32}, down_shape = {32, 48};
  EXPECT_EQ(file->Find("model.layers.1.self_attn.q_proj.weight")->shape, q_shape);
  EXPECT_EQ(file->Find("model.layers.1.self_attn.k_proj.weight")->shape, k_shape);
  EXPECT_EQ(file->Find("model.layers.0.mlp.down_proj.weight")->shape, down_shape);
}

TEST_F(ExportTest, ConfigJsonDescribesTheModel) {
  const LlamaConfig c = TinyConfig();
  absl::StatusOr<JsonValue> json = ParseJson(HuggingFaceLlamaConfig(c, -1));
  ASSERT_THAT(json, IsOk());
  auto number = [&](const char* key) {
    const JsonValue* v = json->Find(key);
    return v != nullptr && v->type == JsonValue::Type::kNumber ? v->number : -1.0;
  };
  auto text = [&](const char* key) {
    const JsonValue* v = json->Find(key);
    return v != nullptr && v->type == JsonValue::Type::kString ? v->text : std::string("?");
  };
  EXPECT_EQ(json->Find("architectures")->items.at(0).text, "LlamaForCausalLM");
  EXPECT_EQ(text("model_type"), "llama");
  EXPECT_EQ(text("hidden_act"), "silu");
  EXPECT_EQ(text("torch_dtype"), "float32");
  EXPECT_EQ(number("vocab_size"), 97);
  EXPECT_EQ(number("hidden_size"), 32);
  EXPECT_EQ(number("intermediate_size"), 48);
  EXPECT_EQ(number("num_hidden_layers"), 2);
  EXPECT_EQ(number("num_attention_heads"), 4);
  EXPECT_EQ(number("num_key_value_heads"), 2);
  EXPECT_EQ(number("head_dim"), 8);
  EXPECT_EQ(number("max_position_embeddings"), 16);
  EXPECT_EQ(static_cast<float>(number("rms_norm_eps")), 0.05f);
  EXPECT_EQ(number("rope_theta"), 500.0);
  EXPECT_EQ(json->Find("rope_theta")->text, "500.0") << "a float, as transformers writes it";
  for (const char* flag : {"tie_word_embeddings", "attention_bias", "mlp_bias"}) {
    ASSERT_NE(json->Find(flag), nullptr) << flag;
    EXPECT_EQ(json->Find(flag)->type, JsonValue::Type::kBool) << flag;
    EXPECT_FALSE(json->Find(flag)->boolean) << flag;
  }
  EXPECT_EQ(json->Find("eos_token_id")->type, JsonValue::Type::kNull);
  absl::StatusOr<JsonValue> with_eos = ParseJson(HuggingFaceLlamaConfig(c, 50256));
  ASSERT_THAT(with_eos, IsOk());
  EXPECT_EQ(with_eos->Find("bos_token_id")->number, 50256);
  EXPECT_EQ(with_eos->Find("eos_token_id")->number, 50256);
}

TEST_F(ExportTest, SublnModelIsRefused) {
  LlamaConfig c = TinyConfig();
  c.subln = true;
  LlamaParams params(c);
  EXPECT_THAT(ExportHuggingFaceLlama(params, dir_ + "/hf", nullptr),
              StatusIs(absl::StatusCode::kFailedPrecondition, "SubLN"));
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/hf/model.safetensors"));
}

TEST_F(ExportTest, TokenizerNeedsAVocabularyThatCoversIt) {
  LlamaParams params(TinyConfig());
  const TokenizerPaths paths{DataPath("encoder.json"), DataPath("vocab.bpe")};
  if (!std::filesystem::exists(paths.encoder_json)) GTEST_SKIP() << "needs " << paths.encoder_json;
  EXPECT_THAT(ExportHuggingFaceLlama(params, dir_ + "/hf", &paths),
              StatusIs(absl::StatusCode::kInvalidArgument, "smaller than the tokenizer's"));
}

TEST_F(ExportTest, ReaderRefusesMalformedFiles) {
  auto file = [](const std::string& header, size_t data_bytes) {
    std::string bytes(8, '\0');
    for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>(header.size() >> (8 * i));
    return bytes + header + std::string(data_bytes, '\0');
  };
  const std::string ok = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  WriteBytes("ok.safetensors", file(ok, 8));
  EXPECT_THAT(ReadSafetensors(dir_ + "/ok.safetensors"), IsOk());
  const std::pair<std::string, std::string> cases[] = {
      {file(ok, 4), "cover 8 bytes but the data holds 4"},
      {file(ok, 12), "cover 8 bytes but the data holds 12"},
      {file(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8), "needs 12"},
      {file(R"({"a":{"dtype":"Q4","shape":[2],"data_offsets":[0,8]}})", 8), "unknown dtype"},
      {file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
            R"("b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})",
            8),
       "gap or overlap"},
      {file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})", 8), "JSON"},
      {file(ok, 8).substr(0, 20), "exceeds the file"},
      {std::string("abc"), "shorter than"},
  };
  for (const auto& [bytes, message] : cases) {
    WriteBytes("bad.safetensors", bytes);
    EXPECT_THAT(ReadSafetensors(dir_ + "/bad.safetensors"),
                StatusIs(absl::StatusCode::kDataLoss, message));
  }
  EXPECT_THAT(ReadSafetensors(dir_ + "/missing.safetensors"),
              StatusIs(absl::StatusCode::kNotFound, "not found"));
}

// Found by tests/fuzz/safetensors_fuzz.cc (corpus/safetensors/crash-empty-f32-tensor): reading
// a zero-element F32 tensor passed a null pointer to memcpy (undefined behaviour; the
// UndefinedBehaviorSanitizer build of tests/sanitize.sh stops there).
TEST(SafetensorsAdversarial, EmptyF32TensorReadsAsNoValues) {
  std::string header = R"({"e":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}})";
  std::string bytes(8, '\0');
  bytes[0] = static_cast<char>(header.size());
  absl::StatusOr<SafetensorsFile> file = ParseSafetensors(bytes + header, "empty");
  ASSERT_THAT(file, IsOk());
  absl::StatusOr<std::vector<float>> values = file->Float32("e");
  ASSERT_THAT(values, IsOk());
  EXPECT_TRUE(values->empty());
}

// A python3 that can import numpy, or "" (Debian's python3-numpy serves /usr/bin/python3,
// which a pyenv or venv python3 earlier on PATH may not see).
std::string PythonWithNumpy() {
  for (const char* python : {"/usr/bin/python3", "python3"}) {
    const std::string probe = std::string(python) + " -c 'import numpy' >/dev/null 2>&1";
    if (std::system(probe.c_str()) == 0) return python;
  }
  return "";
}

// The independent check that the export means what transformers will read: numpy's float64
// LlamaForCausalLM over the exported directory against LlamaModel::LastLogits at every prefix.
// Bound: both sides compute the same function; dqt in float32 with O(1) activations through 2
// blocks accumulates relative rounding of ~1e-6 per op over sums of <= 48 terms, so logits of
// magnitude ~1-10 agree to ~1e-5 (measured: ~1e-6). 1e-4 * max(1, |logit|) leaves >= 10x margin,
// while a wrong RoPE pairing, GQA grouping, transposed weight or eps moves them by 1e-2 or more
// (checked by mutating the script: interleaved RoPE, tiled kv heads, eps 1e-5 all fail).
// The numpy reference's logits (seq x vocab, row t = logits after tokens[0..t]) of export `out`;
// empty (after a test failure or skip) when it cannot run.
std::vector<double> NumpyLogits(const std::string& out, const std::string& dir,
                                const std::vector<int32_t>& tokens, int vocab) {
  const std::string python = PythonWithNumpy();
  if (python.empty()) {
    ADD_FAILURE() << "no python3 with numpy (Debian: apt-get install python3-numpy)";
    return {};
  }
  const char* source_dir = std::getenv("DQT_SOURCE_DIR");
  const std::string script =
      std::string(source_dir ? source_dir : ".") + "/tests/launch/hf_llama_reference.py";
  EXPECT_TRUE(std::filesystem::exists(script)) << script;
  {
    std::ofstream f(dir + "/tokens.txt");
    for (int32_t t : tokens) f << t << " ";
  }
  const std::string logits_path = dir + "/logits.f64";
  const std::string command = python + " '" + script + "' '" + out + "' '" + dir +
                              "/tokens.txt' '" + logits_path + "' 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return {};
  std::string output;
  char buf[512];
  while (size_t n = std::fread(buf, 1, sizeof(buf), pipe)) output.append(buf, n);
  if (pclose(pipe) != 0) {
    ADD_FAILURE() << command << "\n" << output;
    return {};
  }
  const std::string raw = ReadAll(logits_path);
  const size_t n = tokens.size() * static_cast<size_t>(vocab);
  if (raw.size() != n * sizeof(double)) {
    ADD_FAILURE() << "numpy wrote " << raw.size() << " bytes, want " << n * sizeof(double);
    return {};
  }
  std::vector<double> reference(n);
  std::memcpy(reference.data(), raw.data(), raw.size());
  return reference;
}

// Largest |dqt - numpy| over every position's logits, failing at the first beyond
// 1e-4 * max(1, |logit|) when `fail` (see the tolerance above); *max_logit gets max |logit|.
double MaxLogitError(LlamaModel& model, const std::vector<int32_t>& tokens,
                     const std::vector<double>& reference, bool fail, double* max_logit) {
  const size_t vocab = model.config().vocab_size;
  std::vector<float> logits(vocab);
  double max_abs = 0;
  *max_logit = 0;
  for (size_t t = 0; t < tokens.size(); ++t) {
    model.LastLogits(tokens.data(), static_cast<int>(t + 1), logits.data());
    for (size_t v = 0; v < vocab; ++v) {
      const double want = reference[t * vocab + v];
      const double err = std::abs(logits[v] - want);
      *max_logit = std::max(*max_logit, std::abs(want));
      if (fail && err > 1e-4 * std::max(1.0, std::abs(want))) {
        ADD_FAILURE() << "position " << t << " token " << v << ": dqt " << logits[v] << " vs numpy "
                      << want << " (abs error " << err << ")";
        return err;
      }
      max_abs = std::max(max_abs, err);
    }
  }
  return max_abs;
}

std::vector<int32_t> TestTokens(int vocab) {
  std::vector<int32_t> tokens(13);
  std::mt19937 rng(3);
  for (int32_t& t : tokens) t = static_cast<int32_t>(rng() % vocab);
  tokens[5] = tokens[9];  // a repeated token at two positions: only RoPE tells them apart
  return tokens;
}

TEST_F(ExportTest, NumpyLlamaForCausalLmMatchesLastLogits) {
  if (PythonWithNumpy().empty()) {
    GTEST_SKIP() << "no python3 with numpy (Debian: apt-get install python3-numpy)";
  }
  const LlamaConfig c = TinyConfig();
  std::unique_ptr<LlamaModel> model = SavedAndLoaded(c);
  ASSERT_NE(model, nullptr);
  const std::string out = dir_ + "/hf";
  ASSERT_THAT(ExportHuggingFaceLlama(model->params(), out, nullptr), IsOk());
  const std::vector<int32_t> tokens = TestTokens(c.vocab_size);
  const std::vector<double> reference = NumpyLogits(out, dir_, tokens, c.vocab_size);
  ASSERT_FALSE(reference.empty());
  double max_logit = 0;
  const double max_abs = MaxLogitError(*model, tokens, reference, true, &max_logit);
  EXPECT_GT(max_logit, 1.0) << "logits too small for the comparison to mean anything";
  std::printf("numpy reference: max |logit| %.3f, max abs error %.3g over %zu x %d logits\n",
              max_logit, max_abs, tokens.size(), c.vocab_size);
}

// A model trained with int8 activations: transformers computes its export with fp activations,
// which config.json says; the numpy LlamaForCausalLM matches LoadModel with
// InferenceActivations::kFloat (what dqt_eval --fp_activations runs) within the tolerance above,
// and the model as trained (int8 activations) differs from it by far more.
TEST_F(ExportTest, Int8ActivationModelExportsTheFpActivationFunction) {
  if (PythonWithNumpy().empty()) {
    GTEST_SKIP() << "no python3 with numpy (Debian: apt-get install python3-numpy)";
  }
  LlamaConfig c = TinyConfig();
  c.quant.int8_activations = true;
  std::unique_ptr<LlamaModel> as_trained = SavedAndLoaded(c);
  ASSERT_NE(as_trained, nullptr);
  EXPECT_TRUE(as_trained->config().quant.int8_activations);
  const std::string out = dir_ + "/hf";
  ASSERT_THAT(ExportHuggingFaceLlama(as_trained->params(), out, nullptr), IsOk());
  absl::StatusOr<JsonValue> config = ParseJson(ReadAll(out + "/config.json"));
  ASSERT_THAT(config, IsOk());
  EXPECT_EQ(config->Find("dqt_trained_activations")->text, "int8");
  EXPECT_THAT(config->Find("dqt_note")->text, HasSubstr("dqt_eval --fp_activations"));

  absl::StatusOr<std::unique_ptr<LlamaModel>> fp =
      LoadModel(dir_ + "/ckpt/step_000001", InferenceActivations::kFloat);
  ASSERT_THAT(fp, IsOk());
  const std::vector<int32_t> tokens = TestTokens(c.vocab_size);
  const std::vector<double> reference = NumpyLogits(out, dir_, tokens, c.vocab_size);
  ASSERT_FALSE(reference.empty());
  double max_logit = 0;
  const double fp_error = MaxLogitError(**fp, tokens, reference, true, &max_logit);
  const double trained_error = MaxLogitError(*as_trained, tokens, reference, false, &max_logit);
  EXPECT_GT(trained_error, 1e-2) << "int8 activations did not change the logits";
  std::printf("numpy vs fp activations: %.3g; vs int8 activations as trained: %.3g\n", fp_error,
              trained_error);
}

}  // namespace
}  // namespace dqt
