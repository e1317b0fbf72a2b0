// Training checkpoints (one process here; other layouts in tests/dist/parallel_training_mpi_test):
// exact round trip of weights, scales and every moment format, damage (a flipped byte, a
// truncated shard, a missing directory, another model) reported and never loaded, ternary codes
// packed 2 bits each, keep_last.
#include "core/train/checkpoint.h"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <tuple>

#include "core/train/shard_store.h"
#include "gtest/gtest.h"
#include "kernels/device.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/tiny_model.h"

namespace dqt {
namespace {

using testing::IsOk;
using testing::StatusIs;

LlamaConfig Tiny(OptimizerKind kind = OptimizerKind::kFp, QuantGrid grid = QuantGrid::Integer(8),
                 bool per_channel = false, MomentFormat moments = MomentFormat::kFp32) {
  LlamaConfig c = testing::TinyModel({.d_model = 32, .heads = 2, .kv_heads = 1, .context = 6});
  c.subln = true;
  c.seed = 5;
  c.quant.optimizer = kind;
  c.quant.grid = grid;
  c.quant.per_channel_scale = per_channel;
  c.quant.moments = moments;
  return c;
}

std::string FreshDir(const std::string& name) {
  const std::string dir = ::testing::TempDir() + "/ckpt_test_" + name;
  std::filesystem::remove_all(dir);
  return dir;
}

// Params after two optimizer steps on deterministic gradients, so codes, scales and moments all
// hold non-trivial values.
void Train(LlamaParams& params, AdamW& opt) {
  ASSERT_THAT(params.Init(), IsOk());
  for (int step = 0; step < 2; ++step) {
    for (int64_t i = 0; i < params.numel(); ++i) {
      params.grads()[i] = 0.01f * static_cast<float>((i * 7919 + step * 31) % 201 - 100);
    }
    ASSERT_THAT(opt.Step(params, step, 0.05f, 0.1f, 1.0).status(), IsOk());
  }
}

std::vector<uint8_t> Bytes(const MomentStore& store) {
  const MomentsView v = store.ConstView();
  const int64_t n = store.size();
  std::vector<uint8_t> out;
  auto add = [&](const void* p, int64_t bytes) {
    const auto* b = static_cast<const uint8_t*>(p);
    out.insert(out.end(), b, b + bytes);
  };
  add(v.m, MomentArrayBytes(v.format, n));
  add(v.v, MomentArrayBytes(v.format, n));
  if (v.format == MomentFormat::kBlock8) {
    add(v.m_absmax, MomentScaleCount(v.format, n) * 4);
    add(v.v_max, MomentScaleCount(v.format, n) * 4);
  }
  return out;
}

class CheckpointRoundTrip
    : public ::testing::TestWithParam<std::tuple<OptimizerKind, QuantGrid, bool, MomentFormat>> {};

TEST_P(CheckpointRoundTrip, WeightsScalesAndMomentsComeBackExactly) {
  const auto [kind, grid, per_channel, moments] = GetParam();
  const LlamaConfig c = Tiny(kind, grid, per_channel, moments);
  LlamaParams params(c);
  AdamW opt(AdamWConfig{}, params);
  ASSERT_NO_FATAL_FAILURE(Train(params, opt));
  const std::string dir = FreshDir("rt");
  absl::StatusOr<std::string> saved = SaveCheckpoint(dir, params, &opt, {17, 123});
  ASSERT_THAT(saved, IsOk());
  EXPECT_EQ(*saved, dir + "/step_000017");

  absl::StatusOr<CheckpointInfo> info = ReadCheckpointInfo(*saved);
  ASSERT_THAT(info, IsOk());
  EXPECT_EQ(info->state.step, 17);
  EXPECT_EQ(info->state.samples_consumed, 123u);
  EXPECT_EQ(info->config.n_layers, 2);
  EXPECT_TRUE(info->config.subln);
  EXPECT_EQ(info->config.quant.grid, grid);
  EXPECT_TRUE(info->has_optimizer);

  LlamaParams restored(c);  // not initialized: zeros and unit scales until restored
  AdamW restored_opt(AdamWConfig{}, restored);
  ASSERT_THAT(RestoreCheckpoint(*saved, restored, &restored_opt), IsOk());
  // A mode without codes (or values) has an empty buffer: a null pointer memcmp must not see.
  EXPECT_TRUE(
      params.values().bytes() == 0 ||
      std::memcmp(restored.values().data(), params.values().data(), params.values().bytes()) == 0);
  EXPECT_TRUE(params.codes().bytes() == 0 ||
              std::memcmp(restored.codes().data(), params.codes().data(), params.codes().bytes()) ==
                  0);
  for (const ParamTensor& t : params.tensors()) {
    for (int64_t r = 0; r < t.scale_count; ++r) {
      ASSERT_EQ(restored.scale(t, r), params.scale(t, r)) << t.name;
    }
    EXPECT_EQ(Bytes(restored_opt.moments(t.id)), Bytes(opt.moments(t.id))) << t.name;
  }
}

const std::tuple<OptimizerKind, QuantGrid, bool, MomentFormat> kModes[] = {
    std::make_tuple(OptimizerKind::kFp, QuantGrid::Integer(8), false, MomentFormat::kFp32),
    std::make_tuple(OptimizerKind::kBitNet, QuantGrid::Ternary(), false, MomentFormat::kFp32),
    std::make_tuple(OptimizerKind::kDqt, QuantGrid::Ternary(), false, MomentFormat::kBf16),
    std::make_tuple(OptimizerKind::kDqt, QuantGrid::Integer(4), true, MomentFormat::kFp32),
    std::make_tuple(OptimizerKind::kDqt, QuantGrid::Integer(8), false, MomentFormat::kBlock8)};
INSTANTIATE_TEST_SUITE_P(Modes, CheckpointRoundTrip, ::testing::ValuesIn(kModes));

// Every file of checkpoint directory `dir`, by name.
std::map<std::string, std::string> Files(const std::string& dir) {
  std::map<std::string, std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    std::ifstream in(e.path(), std::ios::binary);
    out[e.path().filename().string()] =
        std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  }
  return out;
}

// The host staging of device checkpoints copies state with CopyStateFrom / CopyMomentsFrom: a
// copy saves to the same bytes as the original (here host to host; CheckpointGpu crosses devices).
TEST_P(CheckpointRoundTrip, StateCopiesSaveTheSameBytes) {
  const auto [kind, grid, per_channel, moments] = GetParam();
  const LlamaConfig c = Tiny(kind, grid, per_channel, moments);
  LlamaParams params(c);
  AdamW opt(AdamWConfig{}, params);
  ASSERT_NO_FATAL_FAILURE(Train(params, opt));
  LlamaParams copy(c);
  AdamW copy_opt(AdamWConfig{}, copy);
  copy.CopyStateFrom(params);
  copy_opt.CopyMomentsFrom(opt);
  absl::StatusOr<std::string> a = SaveCheckpoint(FreshDir("copy_a"), params, &opt, {3, 0});
  absl::StatusOr<std::string> b = SaveCheckpoint(FreshDir("copy_b"), copy, &copy_opt, {3, 0});
  ASSERT_THAT(a, IsOk());
  ASSERT_THAT(b, IsOk());
  EXPECT_TRUE(Files(*a) == Files(*b));
}

// A checkpoint written on the CPU loads on CUDA, and the CUDA params save it back to the same
// bytes (so it also loads on the CPU again): codes, scales, latents and moments of every format.
class CheckpointRoundTripGpu : public CheckpointRoundTrip {};
TEST_P(CheckpointRoundTripGpu, CpuAndCudaCheckpointsAreTheSameBytes) {
  if (CudaDeviceCount() == 0) GTEST_SKIP() << "no CUDA device";
  const auto [kind, grid, per_channel, moments] = GetParam();
  const LlamaConfig c = Tiny(kind, grid, per_channel, moments);
  LlamaParams params(c);
  AdamW opt(AdamWConfig{}, params);
  ASSERT_NO_FATAL_FAILURE(Train(params, opt));
  absl::StatusOr<std::string> cpu = SaveCheckpoint(FreshDir("cpu_side"), params, &opt, {5, 0});
  ASSERT_THAT(cpu, IsOk());
  LlamaParams device(c, {}, ExecContext::Cuda(0, nullptr));
  AdamW device_opt(AdamWConfig{}, device);
  ASSERT_THAT(RestoreCheckpoint(*cpu, device, &device_opt), IsOk());
  absl::StatusOr<std::string> gpu =
      SaveCheckpoint(FreshDir("gpu_side"), device, &device_opt, {5, 0});
  ASSERT_THAT(gpu, IsOk());
  EXPECT_TRUE(Files(*cpu) == Files(*gpu));
}
INSTANTIATE_TEST_SUITE_P(Modes, CheckpointRoundTripGpu, ::testing::ValuesIn(kModes));

// One saved DQT-ternary checkpoint and the path of its only shard file.
struct Saved {
  std::string dir, shard;
};
Saved SaveTernary(const std::string& name) {
  LlamaParams params(Tiny(OptimizerKind::kDqt, QuantGrid::Ternary()));
  AdamW opt(AdamWConfig{}, params);
  Train(params, opt);
  absl::StatusOr<std::string> saved = SaveCheckpoint(FreshDir(name), params, &opt, {2, 0});
  EXPECT_THAT(saved, IsOk());
  return {*saved, *saved + "/shard_00000.bin"};
}

absl::Status Restore(const std::string& dir) {
  LlamaParams params(Tiny(OptimizerKind::kDqt, QuantGrid::Ternary()));
  AdamW opt(AdamWConfig{}, params);
  return RestoreCheckpoint(dir, params, &opt).status();
}

// The activation rounding is part of the function trained: a checkpoint keeps the block size and
// the fp16 block scale, and one written without them reads back without them.
TEST(Checkpoint, ActivationRoundingComesBack) {
  for (const bool fp16 : {false, true}) {
    LlamaConfig c = Tiny(OptimizerKind::kDqt, QuantGrid::Integer(8));
    c.quant.int8_activations = true;
    c.quant.activation_block = fp16 ? 32 : 0;
    c.quant.activation_scale_fp16 = fp16;
    LlamaParams params(c);
    ASSERT_THAT(params.Init(), IsOk());
    absl::StatusOr<std::string> saved =
        SaveCheckpoint(FreshDir(fp16 ? "act_fp16" : "act_plain"), params, nullptr, {1, 1});
    ASSERT_THAT(saved, IsOk());
    absl::StatusOr<CheckpointInfo> info = ReadCheckpointInfo(*saved);
    ASSERT_THAT(info, IsOk());
    EXPECT_TRUE(info->config.quant.int8_activations);
    EXPECT_EQ(info->config.quant.activation_block, fp16 ? 32 : 0);
    EXPECT_EQ(info->config.quant.activation_scale_fp16, fp16);
  }
}

TEST(Checkpoint, FlippedByteIsDetected) {
  const Saved s = SaveTernary("flip");
  {
    std::fstream f(s.shard, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(100);
    char c = 0;
    f.read(&c, 1);
    f.seekp(100);
    c ^= 0x40;
    f.write(&c, 1);
  }
  EXPECT_THAT(Restore(s.dir), StatusIs(absl::StatusCode::kDataLoss, "shard_00000.bin"));
}

TEST(Checkpoint, TruncatedShardIsDetected) {
  const Saved s = SaveTernary("trunc");
  std::filesystem::resize_file(s.shard, std::filesystem::file_size(s.shard) - 3);
  EXPECT_THAT(Restore(s.dir), StatusIs(absl::StatusCode::kDataLoss, "shard_00000.bin"));
}

TEST(Checkpoint, MissingDirectoryAndOtherModelAreRefused) {
  EXPECT_FALSE(Restore(FreshDir("none") + "/step_000001").ok());
  const Saved s = SaveTernary("other");
  LlamaParams fp(Tiny());
  AdamW opt(AdamWConfig{}, fp);
  EXPECT_THAT(RestoreCheckpoint(s.dir, fp, &opt),
              StatusIs(absl::StatusCode::kInvalidArgument, "different model"));
  // Weights only: enough for inference, not for resuming.
  LlamaParams params(Tiny(OptimizerKind::kDqt, QuantGrid::Ternary()));
  ASSERT_THAT(params.Init(), IsOk());
  absl::StatusOr<std::string> weights = SaveCheckpoint(FreshDir("weights"), params, nullptr, {});
  ASSERT_THAT(weights, IsOk());
  EXPECT_THAT(Restore(*weights), StatusIs(absl::StatusCode::kInvalidArgument, "no optimizer"));
}

TEST(Checkpoint, TernaryCodesArePackedTwoBits) {
  LlamaParams params(Tiny(OptimizerKind::kDqt, QuantGrid::Ternary()));
  ASSERT_THAT(params.Init(), IsOk());
  absl::StatusOr<std::string> saved = SaveCheckpoint(FreshDir("packed"), params, nullptr, {});
  ASSERT_THAT(saved, IsOk());
  int64_t code_elements = 0, fp_bytes = 0;
  for (const ParamTensor& t : params.tensors()) {
    if (t.storage == ParamStorage::kCodes) code_elements += t.numel;
    if (t.storage == ParamStorage::kFloat) fp_bytes += 4 * t.numel;
  }
  const int64_t shard = std::filesystem::file_size(*saved + "/shard_00000.bin");
  // fp32 tensors + 2 bits per code + scales; one byte per code would not fit.
  EXPECT_LT(shard, fp_bytes + code_elements / 4 + 4096);
  EXPECT_GT(shard, fp_bytes + code_elements / 4);
}

TEST(Checkpoint, KeepLastDeletesOlderCheckpoints) {
  LlamaParams params(Tiny());
  ASSERT_THAT(params.Init(), IsOk());
  SingleProcessCommunicator single;
  absl::StatusOr<ProcessGrid> grid = ProcessGrid::Create(single, 1, 1);
  ASSERT_THAT(grid, IsOk());
  const std::string dir = FreshDir("keep");
  for (int step : {1, 2, 3, 4}) {
    ASSERT_THAT(SaveCheckpoint(dir, *grid, params, nullptr, {step, 0}, /*keep_last=*/2), IsOk());
  }
  absl::StatusOr<std::vector<int64_t>> left = ListCheckpoints(dir);
  ASSERT_THAT(left, IsOk());
  EXPECT_EQ(*left, (std::vector<int64_t>{3, 4}));
}

}  // namespace
}  // namespace dqt
