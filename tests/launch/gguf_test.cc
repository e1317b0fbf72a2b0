// GGUF pieces written here: fp16 rounding (checked against the compiler's _Float16), the Q8_0
// and TQ2_0 block layouts (hand-computed bytes), the writer's size checks, the q/k row order for
// llama.cpp's RoPE, and the exporter's errors for shapes llama.cpp cannot take.
#include "launch/gguf.h"

#include <cmath>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "core/model/llama_params.h"
#include "core/train/checkpoint.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "launch/gguf_export.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/tiny_model.h"

namespace dqt {
namespace {

using ::dqt::testing::DataPath;
using ::dqt::testing::IsOk;
using ::testing::HasSubstr;

uint16_t CompilerHalf(float x) {
#if defined(__clang__) && __clang_major__ < 15  // no _Float16 on x86 (the sanitizer build)
  const __fp16 h = static_cast<__fp16>(x);
#else
  const _Float16 h = static_cast<_Float16>(x);
#endif
  uint16_t bits;
  std::memcpy(&bits, &h, 2);
  return bits;
}

TEST(GgufTest, HalfRoundingMatchesTheCompilers) {
  std::mt19937 rng(3);
  std::vector<float> values = {0.0f,     -0.0f,    1.0f,    65504.0f, 65520.0f, 1e-8f,    5.96e-8f,
                               2.98e-8f, 2.99e-8f, 6.1e-5f, 1.0f / 3, INFINITY, -INFINITY};
  for (int i = 0; i < 200000; ++i) {
    uint32_t bits = rng();
    float x;
    std::memcpy(&x, &bits, 4);
    if (!std::isnan(x)) values.push_back(x);
    values.push_back(std::ldexp(static_cast<float>(rng() % 100000) - 50000, -(int)(rng() % 40)));
  }
  for (float x : values) {
    ASSERT_EQ(FloatToHalf(x), CompilerHalf(x)) << "x = " << x;
  }
  for (uint32_t h = 0; h < 65536; ++h) {
    const float x = HalfToFloat(static_cast<uint16_t>(h));
    if (!std::isnan(x)) {
      ASSERT_EQ(FloatToHalf(x), h) << h;
    }
  }
}

TEST(GgufTest, Tq2BlockLayout) {
  std::vector<int8_t> codes(256, 0);
  codes[0] = 1;     // byte 0, bits 0-1: 2
  codes[32] = -1;   // byte 0, bits 2-3: 0
  codes[97] = 1;    // byte 1, bits 6-7: 2
  codes[128] = -1;  // byte 32, bits 0-1: 0
  std::vector<uint8_t> out;
  PackTQ2_0(codes, FloatToHalf(0.5f), &out);
  ASSERT_EQ(out.size(), 66u);
  EXPECT_EQ(out[0], 0x02 | 0x00 | 0x10 | 0x40);   // codes 1, -1, 0, 0 -> 2, 0, 1, 1
  EXPECT_EQ(out[1], 0x01 | 0x04 | 0x10 | 0x80);   // 0, 0, 0, 1
  EXPECT_EQ(out[32], 0x00 | 0x04 | 0x10 | 0x40);  // -1, 0, 0, 0
  EXPECT_EQ(out[64] | (out[65] << 8), 0x3800);    // fp16 0.5
  const std::vector<float> back = DequantizeBlocks(GgmlType::kTQ2_0, out, 256);
  for (int i = 0; i < 256; ++i) ASSERT_EQ(back[i], 0.5f * codes[i]) << i;
}

TEST(GgufTest, Tq1BlocksRoundTripCodes) {
  std::mt19937 rng(7);
  std::vector<int8_t> codes(512);
  for (int8_t& c : codes) c = static_cast<int8_t>(static_cast<int>(rng() % 3) - 1);
  codes[0] = codes[1] = 1;  // the all-twos trit pattern (byte 255) and the zero one
  codes[32] = codes[64] = codes[96] = codes[128] = 1;
  std::vector<uint8_t> out;
  PackTQ1_0(codes, FloatToHalf(0.25f), &out);
  ASSERT_EQ(out.size(), 108u);
  EXPECT_EQ(out[0], 255);  // trits 2 2 2 2 2: 242 / 243 of 256, rounded up
  const std::vector<float> back = DequantizeBlocks(GgmlType::kTQ1_0, out, 512);
  for (int i = 0; i < 512; ++i) ASSERT_EQ(back[i], 0.25f * codes[i]) << i;
}

TEST(GgufTest, Q8BlocksRoundTripCodes) {
  std::vector<int8_t> codes(64);
  for (int i = 0; i < 64; ++i) codes[i] = static_cast<int8_t>(i * 4 - 128);
  std::vector<uint8_t> out;
  PackQ8_0(codes, FloatToHalf(0.25f), &out);
  ASSERT_EQ(out.size(), 68u);
  const std::vector<float> back = DequantizeBlocks(GgmlType::kQ8_0, out, 64);
  for (int i = 0; i < 64; ++i) ASSERT_EQ(back[i], 0.25f * codes[i]) << i;
}

TEST(GgufTest, WriterRefusesDataThatDoesNotFitTheShape) {
  GgufWriter w;
  w.AddTensor({"t", {100, 2}, GgmlType::kTQ2_0, std::vector<uint8_t>(66)});
  const std::string path = ::testing::TempDir() + "/bad.gguf";
  EXPECT_THAT(w.Write(path).message(), HasSubstr("do not divide into TQ2_0 blocks of 256"));
  GgufWriter v;
  v.AddTensor({"t", {256, 2}, GgmlType::kTQ2_0, std::vector<uint8_t>(66)});
  EXPECT_THAT(v.Write(path).message(), HasSubstr("66 bytes of data, its shape needs 132"));
}

TEST(GgufTest, RopeRowOrderInterleavesTheHalves) {
  // head_dim 4: HF rows (x0, x1 | y0, y1) -> llama.cpp (x0, y0, x1, y1), per head.
  EXPECT_EQ(GgufRopeRow(0, 4), 0);
  EXPECT_EQ(GgufRopeRow(1, 4), 2);
  EXPECT_EQ(GgufRopeRow(2, 4), 1);
  EXPECT_EQ(GgufRopeRow(3, 4), 3);
  EXPECT_EQ(GgufRopeRow(6, 4), 5);
}

TEST(GgufTest, ExportRefusesTernaryRowsLlamaCppCannotPack) {
  const std::string encoder = DataPath("encoder.json"), vocab = DataPath("vocab.bpe");
  if (!std::filesystem::exists(encoder)) GTEST_SKIP() << "needs launch/fetch_data.sh";
  LlamaConfig c = testing::TinyModel(
      {.vocab = 50257, .d_model = 64, .heads = 2, .kv_heads = 1, .ffn = 256, .context = 16});
  c.quant.optimizer = OptimizerKind::kDqt;
  LlamaParams params(c);
  ASSERT_THAT(params.Init(), IsOk());
  const std::string dir = ::testing::TempDir() + "/gguf_shape";
  std::filesystem::remove_all(dir);
  absl::StatusOr<std::string> ckpt = SaveCheckpoint(dir, params, nullptr, {});
  ASSERT_THAT(ckpt, IsOk());
  absl::StatusOr<GgufExportReport> r = ExportGguf(*ckpt, dir + "/m.gguf", {encoder, vocab});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("model.layers.0.self_attn.q_proj.weight"));
  EXPECT_THAT(r.status().message(), HasSubstr("rows of 64 elements"));
  EXPECT_THAT(r.status().message(), HasSubstr("multiples of 256"));
  EXPECT_FALSE(std::filesystem::exists(dir + "/m.gguf"));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace dqt
