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
  params->Init();
  std::vector<float> m(params->numel(), 0.5f), v(params->numel(), 0.25f);
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
