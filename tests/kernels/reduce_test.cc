// Reductions and scaling: exact values of the CPU twins, and the CUDA twins against them (maxima,
// group maxima and scaling bit for bit; f64 sums up to reassociation).
#include "kernels/reduce.h"

#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "tests/testing/twin.h"

namespace dqt {
namespace {

using testing::TwinTensor;

template <typename T>
TensorRef Host(std::vector<T>& v) {
  return RefOf(v.data(), Device::kCpu, {static_cast<int64_t>(v.size())});
}

TEST(Reduce, ExactValues) {
  const ExecContext cpu = ExecContext::Cpu();
  std::vector<float> x = {1.0f, -2.0f, 3.0f, -0.5f};
  std::vector<double> out(1);
  SumSquares(cpu, {Host(x), Host(out)});
  EXPECT_EQ(out[0], 14.25);
  AbsStatOf(cpu, {Host(x), Host(out), AbsStat::kMean});
  EXPECT_EQ(out[0], 6.5 / 4);
  AbsStatOf(cpu, {Host(x), Host(out), AbsStat::kMax});
  EXPECT_EQ(out[0], 3.0);
  Scale(cpu, {Host(x), 0.5f});
  EXPECT_EQ(x, (std::vector<float>{0.5f, -1.0f, 1.5f, -0.25f}));
  std::vector<int8_t> codes = {-5, -3, -9, 4, 7, -128, 0, 1, 127};
  std::vector<float> gmax(3);
  GroupMax(cpu, {Host(codes), 3, Host(gmax)});
  EXPECT_EQ(gmax, (std::vector<float>{-3.0f, 7.0f, 127.0f}));
}

TEST(Reduce, AbsMaxSkipsNan) {
  std::vector<float> x = {1.0f, std::numeric_limits<float>::quiet_NaN(), -2.0f};
  std::vector<double> out(1);
  AbsStatOf(ExecContext::Cpu(), {Host(x), Host(out), AbsStat::kMax});
  EXPECT_EQ(out[0], 2.0);
}

TwinTensor Normal(int64_t n, uint32_t seed) {
  TwinTensor t({n});
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 2.0f);
  for (int64_t i = 0; i < n; ++i) t.SetFloat(i, dist(rng));
  return t;
}

constexpr int64_t kSizes[] = {1, 3, 33, 1000, 130 * 1000, (1 << 20) + 7};

// Sums of n positive f64 terms in another order (per-thread, block tree, atomicAdd across
// blocks): relative error below n * 2^-53 ~ 1e-10 for n ~ 1e6 in the worst case, ~1e-14 in
// practice; tolerance 1e-12 relative.
TEST(SumSquaresTwin, MatchesCpu) {
  DQT_REQUIRE_CUDA();
  for (int64_t n : kSizes) {
    TwinTensor x = Normal(n, 1), out({1}, DType::kF64);
    out.host<double>()[0] = 123.0;  // overwritten, not accumulated
    x.ToDevice();
    out.ToDevice();
    std::vector<double> want(1);
    SumSquares(testing::CpuContext(), {x.HostRef(), Host(want)});
    SumSquares(testing::CudaContext(), {x.DeviceRef(), out.DeviceRef()});
    out.FromDevice();
    EXPECT_NEAR(out.host<double>()[0], want[0], 1e-12 * want[0]) << "n=" << n;
  }
}

TEST(ScaleTwin, BitIdentical) {
  DQT_REQUIRE_CUDA();
  for (int64_t n : kSizes) {
    TwinTensor x = Normal(n, 2);
    x.ToDevice();
    std::vector<float> want = x.Floats();
    Scale(testing::CpuContext(), {Host(want), 0.37f});
    Scale(testing::CudaContext(), {x.DeviceRef(), 0.37f});
    x.FromDevice();
    testing::ExpectBytesEqual(want.data(), x.host<float>(), n * 4, "scale n=" + std::to_string(n));
  }
}

// Mean: f64 sum in another order, rel 1e-12 (as above). Max: exact, NaN skipped by both.
TEST(AbsStatTwin, MatchesCpu) {
  DQT_REQUIRE_CUDA();
  for (int64_t n : kSizes) {
    TwinTensor x = Normal(n, 3), out({1}, DType::kF64);
    for (AbsStat stat : {AbsStat::kMean, AbsStat::kMax}) {
      if (stat == AbsStat::kMax && n > 3) x.SetFloat(n / 2, std::nanf(""));
      x.ToDevice();
      std::vector<double> want(1);
      AbsStatOf(testing::CpuContext(), {x.HostRef(), Host(want), stat});
      AbsStatOf(testing::CudaContext(), {x.DeviceRef(), out.DeviceRef(), stat});
      out.FromDevice();
      if (stat == AbsStat::kMean) {
        EXPECT_NEAR(out.host<double>()[0], want[0], 1e-12 * want[0]) << "mean n=" << n;
      } else {
        EXPECT_EQ(out.host<double>()[0], want[0]) << "max n=" << n;
      }
    }
  }
}

TEST(GroupMaxTwin, BitIdentical) {
  DQT_REQUIRE_CUDA();
  struct Sizes {
    int64_t groups, group;
  };
  for (const Sizes& s :
       {Sizes{1, 1}, Sizes{7, 33}, Sizes{130, 1000}, Sizes{1, 100003}, Sizes{70000, 3}}) {
    const int64_t n = s.groups * s.group;
    TwinTensor codes({n}, DType::kI8), out({s.groups}), want({s.groups});
    std::mt19937 rng(4);
    // Codes in [-128, -8] so that some groups' maxima are negative.
    for (int64_t i = 0; i < n; ++i) {
      codes.host<int8_t>()[i] =
          static_cast<int8_t>((i % 5 == 0) ? -8 - int(rng() % 121) : int(rng() % 256) - 128);
    }
    codes.ToDevice();
    GroupMax(testing::CpuContext(), {codes.HostRef(), s.group, want.HostRef()});
    GroupMax(testing::CudaContext(), {codes.DeviceRef(), s.group, out.DeviceRef()});
    out.FromDevice();
    testing::ExpectBytesEqual(
        want.host<float>(), out.host<float>(), s.groups * 4,
        "group max " + std::to_string(s.groups) + " x " + std::to_string(s.group));
  }
}

}  // namespace
}  // namespace dqt
