// OFF feature distillation: the loss against the cosine formula (identical rows: 0, opposite: 2,
// scale-invariant), its gradient by central differences, a zero row kept finite, and the CUDA
// twin against the CPU twin (FeatureDistillTwin).
#include "kernels/feature_distill.h"

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

double Loss(std::vector<double>& s, std::vector<double>& t, int64_t n, int64_t d) {
  std::vector<double> loss = {0.0};
  FeatureDistillForwardRef({Host(s, {n, d}), Host(t, {n, d}), Host(loss, {1})});
  return loss[0];
}

TEST(FeatureDistill, LossIsOneMinusCosinePerRow) {
  // Row 0: the teacher times 50 (an outlier-scaled copy): loss 0. Row 1: opposite: 2.
  // Row 2: orthogonal: 1.
  std::vector<double> t = {1, 2, 3, -1, 0.5, 0, 1, 0, 0};
  std::vector<double> s = {50, 100, 150, 1, -0.5, 0, 0, 3, 0};
  EXPECT_NEAR(Loss(s, t, 3, 3), 0.0 + 2.0 + 1.0, 1e-12);
  std::vector<double> zero(3, 0.0), t1 = {1, 2, 3};
  EXPECT_NEAR(Loss(zero, t1, 1, 3), 1.0, 1e-12);  // a zero row: finite, loss 1
  std::vector<double> dz(3, 0.0);
  FeatureDistillBackwardRef({Host(zero, {1, 3}), Host(t1, {1, 3}), 1.0f, Host(dz, {1, 3})});
  for (double g : dz) EXPECT_TRUE(std::isfinite(g));
}

TEST(FeatureDistill, GradientMatchesFiniteDifferences) {
  for (const auto& [n, d] : std::vector<std::pair<int64_t, int64_t>>{{1, 1}, {3, 7}, {5, 33}}) {
    std::vector<double> s = RandomVector(n * d, 1), t = RandomVector(n * d, 2, 3.0);
    t[0] = 40.0;  // an outlier channel in the teacher
    const float scale = 0.75f;
    std::vector<double> grad(n * d, 0.125);
    FeatureDistillBackwardRef({Host(s, {n, d}), Host(t, {n, d}), scale, Host(grad, {n, d})});
    for (double& g : grad) g -= 0.125;  // added to what was there
    ExpectGradientMatches(
        s, [&] { return scale * Loss(s, t, n, d); }, grad,
        "d OFF / d student " + std::to_string(n) + "x" + std::to_string(d));
  }
}

// ---------------------------------------------------------------- CUDA twin

TEST(FeatureDistillTwin, MatchesTheCpuTwin) {
  DQT_REQUIRE_CUDA();
  for (DType dtype : {DType::kF32, DType::kBF16}) {
    const int64_t n = 37, d = 130;
    TwinTensor s({n, d}, dtype), t({n, d}, dtype), ds({n, d}, dtype), loss({1}, DType::kF64);
    std::mt19937 rng(3);
    std::normal_distribution<float> dist(0.0f, 1.0f);
    for (TwinTensor* v : {&s, &t, &ds}) {
      for (int64_t i = 0; i < v->numel(); ++i) v->SetFloat(i, dist(rng));
      v->ToDevice();
    }
    loss.ToDevice();
    std::vector<float> sf = s.Floats(), tf = t.Floats(), dsf = ds.Floats();
    std::vector<double> lw = {0.0};
    FeatureDistillForward(CudaContext(), {s.DeviceRef(), t.DeviceRef(), loss.DeviceRef()});
    FeatureDistillBackward(CudaContext(), {s.DeviceRef(), t.DeviceRef(), 0.5f, ds.DeviceRef()});
    loss.FromDevice(), ds.FromDevice();
    FeatureDistillForwardRef({Host(sf, {n, d}), Host(tf, {n, d}), Host(lw, {1})});
    FeatureDistillBackwardRef({Host(sf, {n, d}), Host(tf, {n, d}), 0.5f, Host(dsf, {n, d})});
    // f64 dot products in another order; the bf16 gradient is rounded once more on store.
    EXPECT_NEAR(loss.host<double>()[0], lw[0], 1e-9) << DTypeName(dtype);
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
