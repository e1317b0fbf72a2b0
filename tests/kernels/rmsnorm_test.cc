// RMSNorm: the CPU twin's gradients by finite differences, and the CUDA twin against the CPU
// twin over rows {1, 7, 130} x widths {1, 3, 33, 1000}, f32 and bf16 activations.
#include "kernels/rmsnorm.h"

#include <limits>
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu/rmsnorm.h"
#include "tests/kernels/gradcheck.h"
#include "tests/testing/twin.h"

namespace dqt {
namespace {

using testing::ExpectAllNear;
using testing::ExpectGradientMatches;
using testing::RandomVector;
using testing::TwinTensor;
using testing::WeightedSum;

TEST(RmsNorm, GradientOddWidth) {
  for (int d : {1, 13, 67}) {
    const int64_t rows = 3;
    std::vector<double> x = RandomVector(rows * d, 3), gain = RandomVector(d, 4);
    const std::vector<double> w = RandomVector(rows * d, 5);
    std::vector<double> y(rows * d), rstd(rows);
    auto loss = [&] {
      cpu::RmsNormForward(x.data(), gain.data(), rows, d, 1e-5, y.data(), rstd.data());
      return WeightedSum(y, w);
    };
    loss();
    std::vector<double> dx(rows * d), dgain(d, 0.0);
    cpu::RmsNormBackward(x.data(), gain.data(), rstd.data(), w.data(), rows, d, dx.data(),
                         dgain.data());
    ExpectGradientMatches(x, loss, dx, "rmsnorm dx d=" + std::to_string(d));
    ExpectGradientMatches(gain, loss, dgain, "rmsnorm dgain d=" + std::to_string(d));
  }
}

TEST(RmsNorm, UnitGainGivesUnitRms) {
  const int d = 37;
  std::vector<double> x = RandomVector(d, 6, 3.0), gain(d, 1.0), y(d), rstd(1);
  cpu::RmsNormForward(x.data(), gain.data(), 1, d, 0.0, y.data(), rstd.data());
  double ss = 0;
  for (double v : y) ss += v * v;
  EXPECT_NEAR(ss / d, 1.0, 1e-12);
}

void FillNormal(TwinTensor& t, uint32_t seed, float mean = 0.0f, float std = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(mean, std);
  for (int64_t i = 0; i < t.numel(); ++i) t.SetFloat(i, dist(rng));
}

TensorRef HostView(std::vector<float>& v, int64_t rows, int64_t d) {
  return rows ? RefOf(v.data(), Device::kCpu, {rows, d}) : RefOf(v.data(), Device::kCpu, {d});
}

// Tolerances (inputs O(1); the CPU sums in f64, CUDA in fp32 with per-thread sums of <= 4 terms
// and a 13-level tree, so sums carry < 2e-6 relative error):
//   rstd, y (f32): rel 1e-5.   dx (f32): abs 1e-5 (d = 1 cancels to ~1e-5; the fp32 dot product
//   of 1000 terms is off by < 1e-4 absolute, scaled by s^3 / d).   dgain: a sum over <= 130
//   rows per column of O(1) terms, abs 1e-4.   bf16 outputs: CUDA rounds its fp32 value once, so
//   they sit within half a bf16 ulp (2^-9 relative) of the CPU's f32 value: rel 4e-3.
TEST(RmsNormTwin, ForwardAndBackwardMatchCpu) {
  DQT_REQUIRE_CUDA();
  const ExecContext cpu = testing::CpuContext(), gpu = testing::CudaContext();
  for (DType dtype : {DType::kF32, DType::kBF16}) {
    const bool bf16 = dtype == DType::kBF16;
    const double rel = bf16 ? 4e-3 : 1e-5;
    for (int64_t rows : {1, 7, 130}) {
      for (int64_t d : {1, 3, 33, 1000}) {
        const std::string what = std::string(DTypeName(dtype)) + " rows=" + std::to_string(rows) +
                                 " d=" + std::to_string(d);
        TwinTensor x({rows, d}, dtype), y({rows, d}, dtype), gain({d}), rstd({rows});
        TwinTensor dy({rows, d}, dtype), dx({rows, d}, dtype), dgain({d});
        FillNormal(x, 1, 0.0f, 2.0f);
        FillNormal(gain, 2, 1.0f, 0.1f);
        FillNormal(dy, 3);
        FillNormal(dgain, 4);  // accumulated onto
        for (TwinTensor* t : {&x, &gain, &dy, &dgain}) t->ToDevice();

        std::vector<float> xf = x.Floats(), dyf = dy.Floats(), yc(rows * d), rstdc(rows);
        std::vector<float> dxc(rows * d), dgainc = dgain.Floats();
        RmsNormForward(cpu, {HostView(xf, rows, d), gain.HostRef(), HostView(yc, rows, d),
                             HostView(rstdc, 0, rows)});
        RmsNormForward(gpu, {x.DeviceRef(), gain.DeviceRef(), y.DeviceRef(), rstd.DeviceRef()});
        y.FromDevice();
        rstd.FromDevice();
        ExpectAllNear(rstdc, rstd.Floats(), 1e-5, 0, what + " rstd");
        ExpectAllNear(yc, y.Floats(), rel, 1e-6, what + " y");

        // Both backwards from the CPU's rstd, so the comparison isolates the backward.
        for (int64_t r = 0; r < rows; ++r) rstd.host<float>()[r] = rstdc[r];
        rstd.ToDevice();
        RmsNormBackward(cpu,
                        {HostView(xf, rows, d), gain.HostRef(), HostView(rstdc, 0, rows),
                         HostView(dyf, rows, d), HostView(dxc, rows, d), HostView(dgainc, 0, d)});
        RmsNormBackward(gpu, {x.DeviceRef(), gain.DeviceRef(), rstd.DeviceRef(), dy.DeviceRef(),
                              dx.DeviceRef(), dgain.DeviceRef()});
        dx.FromDevice();
        dgain.FromDevice();
        ExpectAllNear(dxc, dx.Floats(), rel, 1e-5, what + " dx");
        ExpectAllNear(dgainc, dgain.Floats(), 1e-5, 1e-4, what + " dgain");
      }
    }
  }
}

// eps = 0 makes an all-zero row 0 * (1 / sqrt(0)) = NaN: the dispatcher refuses it, and a
// non-finite eps, before any kernel runs.
TEST(RmsNormAdversarial, DispatcherRejectsEpsThatCanProduceNan) {
  std::vector<float> x(2 * 3, 0.0f), gain(3, 1.0f), y(6), rstd(2);
  RmsNormForwardArgs a{RefOf(x.data(), Device::kCpu, {2, 3}), RefOf(gain.data(), Device::kCpu, {3}),
                       RefOf(y.data(), Device::kCpu, {2, 3}),
                       RefOf(rstd.data(), Device::kCpu, {2})};
  a.eps = 1e-5f;
  RmsNormForward(ExecContext::Cpu(), a);
  EXPECT_EQ(y[0], 0.0f);
  a.eps = 0.0f;
  EXPECT_DEATH(RmsNormForward(ExecContext::Cpu(), a), "eps must be finite and > 0, got 0");
  a.eps = std::numeric_limits<float>::infinity();
  EXPECT_DEATH(RmsNormForward(ExecContext::Cpu(), a), "eps must be finite and > 0");
}

}  // namespace
}  // namespace dqt
