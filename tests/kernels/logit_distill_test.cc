// Logit distillation: the loss against a direct double computation of KL(softmax(t) ||
// softmax(s)) (identical rows and shifted rows: 0), the written gradient against central
// differences, and the CUDA twin against the CPU twin (LogitDistillTwin).
#include "kernels/logit_distill.h"

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/kernels/gradcheck.h"
#include "tests/testing/twin.h"

namespace dqt {
namespace {

using testing::CudaContext;
using testing::ExpectAllNear;
using testing::ExpectGradientMatches;
using testing::RandomVector;
using testing::TwinTensor;

template <typename T>
TensorRef Host(std::vector<T>& v, std::initializer_list<int64_t> dims) {
  return RefOf(v.data(), Device::kCpu, dims);
}

double Loss(std::vector<double>& s, std::vector<double>& t, int64_t n, int64_t v) {
  std::vector<double> loss = {0.0};
  LogitDistillRef({.student = Host(s, {n, v}),
                   .teacher = Host(t, {n, v}),
                   .loss = Host(loss, {1}),
                   .scale = 1.0f,
                   .dstudent = {}});
  return loss[0];
}

// KL(softmax(t) || softmax(s)) summed over rows, from unshifted exponentials.
double DirectKl(const std::vector<double>& s, const std::vector<double>& t, int64_t n, int64_t v) {
  double total = 0;
  for (int64_t r = 0; r < n; ++r) {
    double zs = 0, zt = 0;
    for (int64_t i = 0; i < v; ++i) zs += std::exp(s[r * v + i]), zt += std::exp(t[r * v + i]);
    for (int64_t i = 0; i < v; ++i) {
      const double p = std::exp(t[r * v + i]) / zt, q = std::exp(s[r * v + i]) / zs;
      total += p * std::log(p / q);
    }
  }
  return total;
}

TEST(LogitDistill, LossIsTheKlDivergence) {
  for (const auto& [n, v] : std::vector<std::pair<int64_t, int64_t>>{{1, 2}, {3, 7}, {4, 50}}) {
    std::vector<double> s = RandomVector(n * v, 5, 2.0), t = RandomVector(n * v, 6, 2.0);
    const double direct = DirectKl(s, t, n, v);
    EXPECT_GT(direct, 0.0);
    EXPECT_NEAR(Loss(s, t, n, v), direct, 1e-12 * (1 + direct)) << n << "x" << v;
  }
  // A student equal to the teacher, or shifted by a constant per row: zero loss, zero gradient.
  std::vector<double> t = RandomVector(2 * 5, 7, 3.0), s = t;
  for (int64_t i = 5; i < 10; ++i) s[i] += 4.0;
  std::vector<double> grad(10, 1.0), loss = {0.0};
  LogitDistillRef({.student = Host(s, {2, 5}),
                   .teacher = Host(t, {2, 5}),
                   .loss = Host(loss, {1}),
                   .scale = 2.0f,
                   .dstudent = Host(grad, {2, 5})});
  EXPECT_NEAR(loss[0], 0.0, 1e-14);
  for (double g : grad) EXPECT_NEAR(g, 0.0, 1e-14);
  // Large logits stay finite (the row maximum is subtracted).
  std::vector<double> big = {1000, 0, -1000}, small = {0, 0, 0};
  EXPECT_NEAR(Loss(big, small, 1, 3), 1000.0 - std::log(3.0), 1e-9);
}

TEST(LogitDistill, GradientMatchesFiniteDifferences) {
  for (const auto& [n, v] : std::vector<std::pair<int64_t, int64_t>>{{1, 1}, {3, 7}, {5, 33}}) {
    std::vector<double> s = RandomVector(n * v, 1, 2.0), t = RandomVector(n * v, 2, 3.0);
    const float scale = 0.75f;
    std::vector<double> grad(n * v, 0.125), loss = {0.0};
    LogitDistillRef({.student = Host(s, {n, v}),
                     .teacher = Host(t, {n, v}),
                     .loss = Host(loss, {1}),
                     .scale = scale,
                     .dstudent = Host(grad, {n, v})});
    EXPECT_NEAR(loss[0], Loss(s, t, n, v), 1e-12);
    ExpectGradientMatches(
        s, [&] { return scale * Loss(s, t, n, v); }, grad,
        "d KD / d student " + std::to_string(n) + "x" + std::to_string(v));
  }
}

// ---------------------------------------------------------------- CUDA twin

TEST(LogitDistillTwin, MatchesTheCpuTwin) {
  DQT_REQUIRE_CUDA();
  for (DType dtype : {DType::kF32, DType::kBF16}) {
    const int64_t n = 37, v = 1030;
    TwinTensor s({n, v}, dtype), t({n, v}, dtype), ds({n, v}, dtype), loss({1}, DType::kF64);
    std::mt19937 rng(3);
    std::normal_distribution<float> dist(0.0f, 2.0f);
    for (TwinTensor* x : {&s, &t, &ds}) {
      for (int64_t i = 0; i < x->numel(); ++i) x->SetFloat(i, dist(rng));
      x->ToDevice();
    }
    loss.ToDevice();
    std::vector<float> sf = s.Floats(), tf = t.Floats(), dsf = ds.Floats();
    std::vector<double> lw = {0.0};
    LogitDistill(CudaContext(), {.student = s.DeviceRef(),
                                 .teacher = t.DeviceRef(),
                                 .loss = loss.DeviceRef(),
                                 .scale = 0.5f,
                                 .dstudent = ds.DeviceRef()});
    loss.FromDevice(), ds.FromDevice();
    LogitDistillRef({.student = Host(sf, {n, v}),
                     .teacher = Host(tf, {n, v}),
                     .loss = Host(lw, {1}),
                     .scale = 0.5f,
                     .dstudent = Host(dsf, {n, v})});
    // f64 sums in another order; the bf16 gradient is rounded once more on store.
    EXPECT_NEAR(loss.host<double>()[0], lw[0], 1e-9 * (1 + lw[0])) << DTypeName(dtype);
    if (dtype == DType::kBF16) {
      std::vector<float> rounded(dsf.size());
      for (size_t i = 0; i < dsf.size(); ++i) rounded[i] = Bf16ToFloat(FloatToBf16(dsf[i]));
      ExpectAllNear(rounded, ds.Floats(), 1e-2, 1e-3, "dstudent bf16");
    } else {
      ExpectAllNear(dsf, ds.Floats(), 1e-6, 1e-7, "dstudent f32");
    }
  }
}

}  // namespace
}  // namespace dqt
