// Cross-entropy: the fused CPU twin's gradient by finite differences through the dispatcher (f64
// views), the token-loss sum, and the CUDA twins against the CPU twins (vocab up to 50257, f32
// and bf16 logits, ignored targets).
#include "kernels/cross_entropy.h"

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "tests/kernels/gradcheck.h"
#include "tests/testing/twin.h"

namespace dqt {
namespace {

using testing::ExpectAllNear;
using testing::RandomVector;
using testing::TwinTensor;

TEST(CrossEntropy, GradientOfWeightedLossAndIgnoredTarget) {
  const int64_t n = 4, vocab = 11;
  const std::vector<int32_t> targets = {3, -1, 10, 0};
  std::vector<double> logits = RandomVector(n * vocab, 31, 2.0);
  const std::vector<double> w = {0.5, 1.0, -0.25, 2.0};
  const ExecContext cpu = ExecContext::Cpu();
  const TensorRef targets_ref = RefOf(targets.data(), Device::kCpu, {n});
  std::vector<double> losses(n);
  auto loss = [&] {
    std::vector<double> tmp = logits;
    CrossEntropy(cpu, {RefOf(tmp.data(), Device::kCpu, {n, vocab}), targets_ref,
                       RefOf(losses.data(), Device::kCpu, {n}), 0.0f});
    return testing::WeightedSum(losses, w);
  };
  loss();
  EXPECT_EQ(losses[1], 0.0);
  double z = 0;  // row 0 by hand: -log softmax
  for (int j = 0; j < vocab; ++j) z += std::exp(logits[j]);
  EXPECT_NEAR(losses[0], std::log(z) - logits[3], 1e-12);
  // d(sum_r w_r loss_r)/dlogits: one row at a time with grad_scale = w_r.
  std::vector<double> grad = logits;
  for (int64_t r = 0; r < n; ++r) {
    double l = 0;
    CrossEntropy(cpu, {RefOf(grad.data() + r * vocab, Device::kCpu, {1, vocab}),
                       RefOf(&targets[r], Device::kCpu, {1}), RefOf(&l, Device::kCpu, {1}),
                       static_cast<float>(w[r])});
  }
  testing::ExpectGradientMatches(logits, loss, grad, "cross-entropy dlogits");
}

TEST(TokenLossSum, AccumulatesCountedTokens) {
  const std::vector<float> losses = {1.5f, 9.0f, 0.25f, 2.0f};
  const std::vector<int32_t> targets = {4, -1, 0, 7};
  std::vector<double> totals = {10.0, 3.0};
  TokenLossSum(ExecContext::Cpu(),
               {RefOf(losses.data(), Device::kCpu, {4}), RefOf(targets.data(), Device::kCpu, {4}),
                RefOf(totals.data(), Device::kCpu, {2})});
  EXPECT_EQ(totals[0], 13.75);
  EXPECT_EQ(totals[1], 6.0);
}

// Tolerances: CUDA sums exp in fp32 (<= 99 terms per thread, then a 10-level tree: < 7e-6
// relative worst case) where the CPU sums in f64, and expf differs from the CPU's polynomial exp
// by a few ulps. Losses (log of the sum): abs 2e-5. Gradients, grad_scale * softmax: rel 2e-5
// plus 1e-6 absolute for the target entry p - grad_scale. bf16 gradients are rounded once
// from fp32: half a bf16 ulp (2^-9 relative), rel 4e-3.
TEST(CrossEntropyTwin, LossesAndGradientsMatchCpu) {
  DQT_REQUIRE_CUDA();
  const ExecContext cpu = testing::CpuContext(), gpu = testing::CudaContext();
  struct Shape {
    int64_t rows, vocab;
  };
  for (DType dtype : {DType::kF32, DType::kBF16}) {
    for (const Shape& s : {Shape{1, 1}, Shape{7, 33}, Shape{130, 1000}, Shape{3, 50257}}) {
      for (float grad_scale : {0.0f, 0.5f}) {
        const std::string what = std::string(DTypeName(dtype)) + " rows=" + std::to_string(s.rows) +
                                 " vocab=" + std::to_string(s.vocab) +
                                 " grad_scale=" + std::to_string(grad_scale);
        TwinTensor logits({s.rows, s.vocab}, dtype), targets({s.rows}, DType::kI32),
            losses({s.rows});
        std::mt19937 rng(41);
        std::normal_distribution<float> dist(0.0f, 3.0f);
        for (int64_t i = 0; i < logits.numel(); ++i) logits.SetFloat(i, dist(rng));
        for (int64_t r = 0; r < s.rows; ++r) {  // every third row ignored (not with one row)
          targets.host<int32_t>()[r] =
              (r % 3 == 1) ? -1 : static_cast<int32_t>((r * 7919) % s.vocab);
        }
        if (s.vocab == 50257) targets.host<int32_t>()[s.rows - 1] = 50256;
        logits.ToDevice();
        targets.ToDevice();

        std::vector<float> want = logits.Floats(), want_losses(s.rows);
        CrossEntropy(cpu, {RefOf(want.data(), Device::kCpu, {s.rows, s.vocab}), targets.HostRef(),
                           RefOf(want_losses.data(), Device::kCpu, {s.rows}), grad_scale});
        CrossEntropy(gpu,
                     {logits.DeviceRef(), targets.DeviceRef(), losses.DeviceRef(), grad_scale});
        logits.FromDevice();
        losses.FromDevice();
        ExpectAllNear(want_losses, losses.Floats(), 0, 2e-5, what + " losses");
        if (grad_scale == 0.0f) {  // logits untouched
          testing::ExpectAllNear(logits.Floats(), want, 0, 0, what + " logits kept");
        } else {
          ExpectAllNear(want, logits.Floats(), dtype == DType::kBF16 ? 4e-3 : 2e-5, 1e-6,
                        what + " dlogits");
        }
      }
    }
  }
}

// The CUDA sum runs in one block in a fixed order: equal to the CPU's index-order f64 sum up to
// reassociation (n terms of O(10): rel 1e-12); the count is exact.
TEST(TokenLossSumTwin, MatchesCpu) {
  DQT_REQUIRE_CUDA();
  for (int64_t n : {1, 7, 130, 50000}) {
    TwinTensor losses({n}), targets({n}, DType::kI32), totals({2}, DType::kF64);
    std::mt19937 rng(3);
    std::uniform_real_distribution<float> dist(0.0f, 12.0f);
    for (int64_t i = 0; i < n; ++i) {
      losses.SetFloat(i, dist(rng));
      targets.host<int32_t>()[i] = (i % 5 == 4) ? -1 : static_cast<int32_t>(i);
    }
    totals.host<double>()[0] = 100.5;
    totals.host<double>()[1] = 4.0;
    for (TwinTensor* t : {&losses, &targets, &totals}) t->ToDevice();
    std::vector<double> want = {100.5, 4.0};
    TokenLossSum(testing::CpuContext(),
                 {losses.HostRef(), targets.HostRef(), RefOf(want.data(), Device::kCpu, {2})});
    TokenLossSum(testing::CudaContext(),
                 {losses.DeviceRef(), targets.DeviceRef(), totals.DeviceRef()});
    totals.FromDevice();
    EXPECT_NEAR(totals.host<double>()[0], want[0], 1e-12 * want[0]) << "n=" << n;
    EXPECT_EQ(totals.host<double>()[1], want[1]) << "n=" << n;
  }
}

}  // namespace
}  // namespace dqt
