// Hugging Face LlamaForCausalLM import: export then import gives the same model bit for bit (one
// file or several), the imported checkpoint loads for training, and bad directories (a
// safetensors header that lies about its sizes, a missing or misshapen tensor, an unsupported
// config) are clear errors.
#include "launch/hf_import.h"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/train/checkpoint.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "launch/hf_export.h"
#include "launch/model_loading.h"
#include "launch/safetensors.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/tiny_model.h"

namespace dqt {
namespace {

using ::dqt::testing::IsOk;
using ::testing::HasSubstr;

class HfImportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "/hf_import_" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  static LlamaConfig Config() {
    LlamaConfig c = testing::TinyModel(
        {.vocab = 37, .d_model = 16, .heads = 4, .kv_heads = 2, .ffn = 24, .context = 16});
    c.seed = 9;
    c.norm_eps = 1e-6f;
    c.rope_theta = 500000.0f;
    return c;
  }
  static std::vector<float> Logical(const LlamaParams& p) {
    std::vector<float> v(p.numel());
    p.LogicalValues(v.data());
    return v;
  }
  static void ExpectBitEqual(const std::vector<float>& a, const std::vector<float>& b) {
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) {
      ASSERT_EQ(std::memcmp(&a[i], &b[i], 4), 0)
          << "element " << i << ": " << a[i] << " vs " << b[i];
    }
  }
  std::string dir_;
};

TEST_F(HfImportTest, ExportThenImportIsBitForBit) {
  LlamaParams params(Config());
  ASSERT_THAT(params.Init(), IsOk());
  ASSERT_THAT(ExportHuggingFaceLlama(params, dir_ + "/hf", nullptr), IsOk());
  absl::StatusOr<std::unique_ptr<LlamaParams>> imported = ImportHuggingFaceLlama(dir_ + "/hf");
  ASSERT_THAT(imported, IsOk());
  const LlamaConfig& a = params.config();
  const LlamaConfig& b = (*imported)->config();
  EXPECT_EQ(b.vocab_size, a.vocab_size);
  EXPECT_EQ(b.d_model, a.d_model);
  EXPECT_EQ(b.n_layers, a.n_layers);
  EXPECT_EQ(b.n_heads, a.n_heads);
  EXPECT_EQ(b.n_kv_heads, a.n_kv_heads);
  EXPECT_EQ(b.ffn_dim, a.ffn_dim);
  EXPECT_EQ(b.context, a.context);
  EXPECT_EQ(b.norm_eps, a.norm_eps);
  EXPECT_EQ(b.rope_theta, a.rope_theta);
  ExpectBitEqual(Logical(params), Logical(**imported));

  // The imported model is a checkpoint like any other: it saves, loads and re-exports the same.
  absl::StatusOr<std::string> ckpt = SaveCheckpoint(dir_ + "/ckpt", **imported, nullptr, {});
  ASSERT_THAT(ckpt, IsOk());
  absl::StatusOr<std::unique_ptr<LlamaModel>> model = LoadModel(*ckpt);
  ASSERT_THAT(model, IsOk());
  ExpectBitEqual(Logical(params), Logical((*model)->params()));
}

TEST_F(HfImportTest, QuantizedCheckpointRoundTripsThroughItsForwardWeights) {
  LlamaConfig c = Config();
  c.quant.optimizer = OptimizerKind::kDqt;
  LlamaParams params(c);
  ASSERT_THAT(params.Init(), IsOk());
  absl::StatusOr<std::string> ckpt = SaveCheckpoint(dir_ + "/q", params, nullptr, {});
  ASSERT_THAT(ckpt, IsOk());
  absl::StatusOr<std::unique_ptr<LlamaModel>> model = LoadModel(*ckpt);  // code / scale, fp32
  ASSERT_THAT(model, IsOk());
  ASSERT_THAT(ExportHuggingFaceLlama((*model)->params(), dir_ + "/hf", nullptr), IsOk());
  absl::StatusOr<std::unique_ptr<LlamaParams>> imported = ImportHuggingFaceLlama(dir_ + "/hf");
  ASSERT_THAT(imported, IsOk());
  ExpectBitEqual(Logical(params), Logical(**imported));
}

TEST_F(HfImportTest, TensorsSplitOverSeveralFiles) {
  LlamaParams params(Config());
  ASSERT_THAT(params.Init(), IsOk());
  ASSERT_THAT(ExportHuggingFaceLlama(params, dir_ + "/hf", nullptr), IsOk());
  std::filesystem::remove(dir_ + "/hf/model.safetensors");
  std::vector<SafetensorsTensor> first, second;
  for (const ParamTensor& t : params.tensors()) {
    (t.id % 2 ? first : second)
        .push_back({t.name, t.shape,
                    std::span<const float>(params.values().data() + t.value_offset, t.numel)});
  }
  ASSERT_THAT(WriteSafetensors(dir_ + "/hf/model-00001-of-00002.safetensors", first, {}), IsOk());
  ASSERT_THAT(WriteSafetensors(dir_ + "/hf/model-00002-of-00002.safetensors", second, {}), IsOk());
  absl::StatusOr<std::unique_ptr<LlamaParams>> imported = ImportHuggingFaceLlama(dir_ + "/hf");
  ASSERT_THAT(imported, IsOk());
  ExpectBitEqual(Logical(params), Logical(**imported));

  // A tensor in both files, and one in neither.
  std::filesystem::copy_file(dir_ + "/hf/model-00001-of-00002.safetensors",
                             dir_ + "/hf/model-extra.safetensors");
  EXPECT_THAT(ImportHuggingFaceLlama(dir_ + "/hf").status().message(),
              HasSubstr("appears in more than one file"));
  std::filesystem::remove(dir_ + "/hf/model-extra.safetensors");
  std::filesystem::remove(dir_ + "/hf/model-00002-of-00002.safetensors");
  EXPECT_THAT(ImportHuggingFaceLlama(dir_ + "/hf").status().message(),
              HasSubstr("is missing from the safetensors files"));
}

TEST_F(HfImportTest, BadInputIsAClearError) {
  LlamaParams params(Config());
  ASSERT_THAT(params.Init(), IsOk());
  ASSERT_THAT(ExportHuggingFaceLlama(params, dir_ + "/hf", nullptr), IsOk());
  const std::string st = dir_ + "/hf/model.safetensors";
  std::string bytes;
  {
    std::ifstream in(st, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  // A header that lies about its sizes: the embedding claims 4 bytes more than its shape needs.
  const std::string good = bytes;
  const size_t at = bytes.find("\"data_offsets\":[0,");
  ASSERT_NE(at, std::string::npos) << bytes.substr(8, 200);
  const size_t comma = bytes.find(',', at);
  const size_t close = bytes.find(']', comma);
  const long end = std::stol(bytes.substr(comma + 1, close - comma - 1));
  std::string lie = std::to_string(end + 4);
  lie.resize(close - comma - 1, ' ');
  if (lie.size() == static_cast<size_t>(close - comma - 1))
    bytes.replace(comma + 1, lie.size(), lie);
  std::ofstream(st, std::ios::binary) << bytes;
  absl::Status s = ImportHuggingFaceLlama(dir_ + "/hf").status();
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("model.safetensors"));
  std::printf("lying header: %s\n", std::string(s.message()).c_str());

  // A shape that does not match config.json.
  std::ofstream(st, std::ios::binary) << good;
  std::string config;
  {
    std::ifstream in(dir_ + "/hf/config.json");
    config.assign(std::istreambuf_iterator<char>(in), {});
  }
  std::string wrong = config;
  wrong.replace(wrong.find("\"intermediate_size\": 24"), 23, "\"intermediate_size\": 32");
  std::ofstream(dir_ + "/hf/config.json") << wrong;
  EXPECT_THAT(ImportHuggingFaceLlama(dir_ + "/hf").status().message(),
              HasSubstr("config.json implies [32, 16]"));

  std::string scaled = config;
  scaled.replace(scaled.find("\"rope_scaling\": null"), 20, "\"rope_scaling\": {}  ");
  std::ofstream(dir_ + "/hf/config.json") << scaled;
  EXPECT_THAT(ImportHuggingFaceLlama(dir_ + "/hf").status().message(),
              HasSubstr("rope_scaling is not supported"));

  std::ofstream(dir_ + "/hf/config.json") << "[1, 2]";
  EXPECT_THAT(ImportHuggingFaceLlama(dir_ + "/hf").status().message(),
              HasSubstr("not a JSON object"));
  EXPECT_THAT(ImportHuggingFaceLlama(dir_ + "/nowhere").status().message(),
              HasSubstr("is not a directory"));
}

}  // namespace
}  // namespace dqt
