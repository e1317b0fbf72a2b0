// Counter-based fills: the CPU twin is NormalAt element by element (so shards agree with the whole
// tensor), has the right moments; the CUDA twin matches it (FillNormal to one fp32 ulp, Fill
// exactly).
#include "kernels/init.h"

#include <cmath>
#include <string>
#include <vector>

#include "tests/testing/twin.h"

namespace dqt {
namespace {

TensorRef Host(std::vector<float>& v) {
  return RefOf(v.data(), Device::kCpu, {static_cast<int64_t>(v.size())});
}

TEST(FillNormal, IsNormalAtScaledAndShardable) {
  const RngKey key = MakeRngKey(1234, 5);
  const int64_t n = 200001;
  std::vector<float> whole(n), shard(1001);
  FillNormal(ExecContext::Cpu(), {Host(whole), key, 0, 0.02f});
  for (int64_t i = 0; i < n; i += 997) {
    ASSERT_EQ(whole[i], 0.02f * NormalAt(key, RngPurpose::kInit, 0, i)) << i;
  }
  // A shard starting at an odd global index draws the same values as the whole tensor.
  FillNormal(ExecContext::Cpu(), {Host(shard), key, 54321, 0.02f});
  for (int64_t i = 0; i < 1001; ++i) ASSERT_EQ(shard[i], whole[54321 + i]) << i;
  // Moments: mean 0 and std 0.02, within 5 standard errors.
  double sum = 0, sq = 0;
  for (float x : whole) sum += x, sq += double(x) * x;
  const double mean = sum / n, std = std::sqrt(sq / n - mean * mean);
  EXPECT_NEAR(mean, 0.0, 5 * 0.02 / std::sqrt(double(n)));
  EXPECT_NEAR(std, 0.02, 5 * 0.02 / std::sqrt(2.0 * n));
}

TEST(Fill, SetsEveryElement) {
  std::vector<float> x(37, 1.0f);
  Fill(ExecContext::Cpu(), {Host(x), -2.5f});
  for (float v : x) EXPECT_EQ(v, -2.5f);
}

// NormalAt's f64 log / sqrt / sin / cos are CUDA's (<= 2 ulp) on the device and glibc's on the
// host, so a draw may differ in the last bit of its fp32 result (tolerance: 1 fp32 ulp, 2^-23
// relative, doubled for the rounding of the product by std); almost all draws are bit-equal.
TEST(FillNormalTwin, MatchesCpuToOneUlp) {
  DQT_REQUIRE_CUDA();
  const RngKey key = MakeRngKey(77, 3);
  for (int64_t n : {1, 3, 33, 1000, (1 << 20) + 3}) {
    for (uint64_t offset : {uint64_t{0}, uint64_t{12345}}) {
      testing::TwinTensor out({n});
      std::vector<float> want(n);
      FillNormal(testing::CpuContext(), {Host(want), key, offset, 0.02f});
      FillNormal(testing::CudaContext(), {out.DeviceRef(), key, offset, 0.02f});
      out.FromDevice();
      testing::ExpectAllNear(want, out.Floats(), 2.4e-7, 0,
                             "n=" + std::to_string(n) + " offset=" + std::to_string(offset));
    }
  }
}

TEST(FillTwin, Exact) {
  DQT_REQUIRE_CUDA();
  for (int64_t n : {1, 33, 1000, 130 * 1000 + 1}) {
    testing::TwinTensor out({n});
    Fill(testing::CudaContext(), {out.DeviceRef(), 0.125f});
    out.FromDevice();
    testing::ExpectAllNear(std::vector<float>(n, 0.125f), out.Floats(), 0, 0,
                           "n=" + std::to_string(n));
  }
}

}  // namespace
}  // namespace dqt
