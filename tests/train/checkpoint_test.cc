// Checkpoint files: exact round trip, and damage (a flipped byte, truncation, a missing file,
// a different model) reported, never loaded.
#include "core/train/checkpoint.h"

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace dqt {
namespace {

using testing::IsOk;
using testing::StatusIs;

LlamaConfig Tiny() {
  LlamaConfig c;
  c.vocab_size = 13;
  c.d_model = 8;
  c.n_layers = 2;
  c.n_heads = 2;
  c.n_kv_heads = 1;
  c.ffn_dim = 12;
  c.context = 6;
  c.subln = true;
  c.seed = 5;
  return c;
}

std::string SavedCheckpoint(const std::string& name, LlamaParams* params) {
  EXPECT_THAT(params->Init(), IsOk());
  std::vector<float> m(params->values().size(), 0.5f), v(params->values().size(), 0.25f);
  const std::string path = ::testing::TempDir() + "/" + name;
  EXPECT_THAT(SaveCheckpoint(path, *params, m.data(), v.data(), {17, 123}), IsOk());
  return path;
}

TEST(Checkpoint, RoundTripIsExact) {
  LlamaParams params(Tiny());
  const std::string path = SavedCheckpoint("rt.dqt", &params);
  absl::StatusOr<LoadedCheckpoint> ck = LoadCheckpoint(path);
  ASSERT_THAT(ck, IsOk());
  EXPECT_EQ(ck->state.step, 17);
  EXPECT_EQ(ck->state.samples_consumed, 123u);
  EXPECT_EQ(ck->config.n_layers, 2);
  EXPECT_TRUE(ck->config.subln);
  EXPECT_EQ(ck->config.seed, 5u);
  ASSERT_EQ(ck->adam_m.size(), static_cast<size_t>(params.numel()));
  EXPECT_EQ(ck->adam_v[3], 0.25f);
  LlamaParams restored(ck->config);
  ASSERT_THAT(RestoreParams(*ck, restored), IsOk());
  EXPECT_EQ(0,
            std::memcmp(restored.values().data(), params.values().data(), params.values().bytes()));
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
}

TEST(Checkpoint, FlippedByteIsDetected) {
  LlamaParams params(Tiny());
  const std::string path = SavedCheckpoint("flip.dqt", &params);
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(std::filesystem::file_size(path) / 2);
    f.put('\x5a');
  }
  EXPECT_THAT(LoadCheckpoint(path), StatusIs(absl::StatusCode::kDataLoss, "checksum"));
}

TEST(Checkpoint, TruncatedFileIsDetected) {
  LlamaParams params(Tiny());
  const std::string path = SavedCheckpoint("trunc.dqt", &params);
  std::filesystem::resize_file(path, std::filesystem::file_size(path) - 100);
  EXPECT_THAT(LoadCheckpoint(path), StatusIs(absl::StatusCode::kDataLoss, "corrupt"));
}

TEST(Checkpoint, MissingFileAndWrongModel) {
  EXPECT_THAT(LoadCheckpoint(::testing::TempDir() + "/nope.dqt"),
              StatusIs(absl::StatusCode::kNotFound, "not found"));
  LlamaParams params(Tiny());
  absl::StatusOr<LoadedCheckpoint> ck = LoadCheckpoint(SavedCheckpoint("other.dqt", &params));
  ASSERT_THAT(ck, IsOk());
  LlamaConfig other = Tiny();
  other.subln = false;
  LlamaParams different(other);
  EXPECT_THAT(RestoreParams(*ck, different),
              StatusIs(absl::StatusCode::kInvalidArgument, "do not match"));
}

}  // namespace
}  // namespace dqt

namespace dqt {
namespace {

LlamaConfig Quantized(OptimizerKind kind, QuantGrid grid, bool per_channel) {
  LlamaConfig c = Tiny();
  c.quant.optimizer = kind;
  c.quant.grid = grid;
  c.quant.per_channel_scale = per_channel;
  return c;
}

class QuantizedCheckpointTest
    : public ::testing::TestWithParam<std::tuple<OptimizerKind, int, bool>> {};

// Codes, scales and latents come back bit for bit into a model stored the same way, and an fp32
// model loaded from the same file sees exactly the forward weights (code / scale, ternarized
// latents).
TEST_P(QuantizedCheckpointTest, RoundTripIsExact) {
  const auto [kind, bits, per_channel] = GetParam();
  const QuantGrid grid = bits == 0 ? QuantGrid::Ternary() : QuantGrid::Integer(bits);
  LlamaParams params(Quantized(kind, grid, per_channel));
  ASSERT_THAT(params.Init(), IsOk());
  const std::string path = ::testing::TempDir() + "/q.dqt";
  ASSERT_THAT(SaveCheckpoint(path, params, nullptr, nullptr, {3, 4}), IsOk());
  absl::StatusOr<LoadedCheckpoint> ck = LoadCheckpoint(path);
  ASSERT_THAT(ck, IsOk());
  EXPECT_EQ(ck->config.quant.optimizer, kind);
  EXPECT_EQ(ck->config.quant.grid, grid);
  LlamaParams restored(ck->config);
  ASSERT_THAT(RestoreParams(*ck, restored), IsOk());
  EXPECT_EQ(0, std::memcmp(restored.codes().data(), params.codes().data(), params.codes().bytes()));
  EXPECT_EQ(0,
            std::memcmp(restored.values().data(), params.values().data(), params.values().bytes()));
  for (const ParamTensor& t : params.tensors()) {
    for (int64_t r = 0; r < t.scale_count; ++r) EXPECT_EQ(restored.scale(t, r), params.scale(t, r));
  }
  std::vector<float> forward(params.numel());
  params.LogicalValues(forward.data());
  LlamaParams fp(Tiny());
  ASSERT_THAT(RestoreParams(*ck, fp), IsOk());
  for (const ParamTensor& t : fp.tensors()) {
    ASSERT_EQ(0, std::memcmp(fp.values().data() + t.value_offset, forward.data() + t.offset,
                             t.numel * sizeof(float)))
        << t.name;
  }
}

INSTANTIATE_TEST_SUITE_P(Modes, QuantizedCheckpointTest,
                         ::testing::Values(std::make_tuple(OptimizerKind::kDqt, 0, false),
                                           std::make_tuple(OptimizerKind::kDqt, 4, true),
                                           std::make_tuple(OptimizerKind::kDqt, 8, false),
                                           std::make_tuple(OptimizerKind::kBitNet, 0, false)));

TEST(Checkpoint, TernaryCodesArePackedTwoBits) {
  LlamaParams ternary(Quantized(OptimizerKind::kDqt, QuantGrid::Ternary(), false));
  LlamaParams int8(Quantized(OptimizerKind::kDqt, QuantGrid::Integer(8), false));
  ASSERT_THAT(ternary.Init(), IsOk());
  ASSERT_THAT(int8.Init(), IsOk());
  const std::string a = ::testing::TempDir() + "/t.dqt", b = ::testing::TempDir() + "/i.dqt";
  ASSERT_THAT(SaveCheckpoint(a, ternary, nullptr, nullptr, {}), IsOk());
  ASSERT_THAT(SaveCheckpoint(b, int8, nullptr, nullptr, {}), IsOk());
  int64_t code_elems = 0;
  for (const ParamTensor& t : int8.tensors()) {
    if (t.storage == ParamStorage::kCodes) code_elems += t.numel;
  }
  // Same manifest length up to the grid digit; the code payload shrinks from 1 B to 1/4 B.
  const int64_t saved = static_cast<int64_t>(std::filesystem::file_size(b)) -
                        static_cast<int64_t>(std::filesystem::file_size(a));
  EXPECT_NEAR(saved, code_elems - code_elems / 4, 16);
}

}  // namespace
}  // namespace dqt
