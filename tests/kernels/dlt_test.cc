// DLT: the ternarization against its formula, the kernel-form forward of a ternary tensor against
// the dense product of W_hat, finite-difference checks of the gradients to alpha and gamma (exact:
// W_hat is affine in them), the straight-through latent gradient, and the CUDA twin against the
// CPU twin (DltTwin).
#include "kernels/dlt.h"

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
using testing::ExpectBytesEqual;
using testing::ExpectGradientMatches;
using testing::RandomVector;
using testing::TwinTensor;

template <typename T>
TensorRef Host(std::vector<T>& v, std::initializer_list<int64_t> dims) {
  return RefOf(v.data(), Device::kCpu, dims);
}

struct Shape {
  int64_t n, rows, cols, group;
  std::string Name() const {
    return "n" + std::to_string(n) + " " + std::to_string(rows) + "x" + std::to_string(cols) +
           " group " + std::to_string(group);
  }
};
// Per output channel (group = cols) and smaller groups; odd sizes, one row, one token.
const Shape kShapes[] = {
    {5, 7, 12, 12}, {5, 7, 12, 4}, {1, 3, 9, 3}, {33, 1, 45, 15}, {3, 6, 8, 1}};

TEST(Dlt, TernaryFollowsTheGroupThreshold) {
  // Group 1: mean |w| = 1, delta = 0.7; group 2: mean 0.3, delta 0.21.
  std::vector<float> w = {0.69f, -0.71f, 2.0f, -0.6f, 0.3f, -0.2f, 0.0f, -0.7f};
  std::vector<float> t(8);
  DltTernaryRef({Host(w, {2, 4}), 4, Host(t, {2, 4})});
  EXPECT_EQ(t, (std::vector<float>{0, -1, 1, 0, 1, 0, 0, -1}));
}

TEST(Dlt, KernelFormEqualsTheDenseProductOfWHat) {
  for (const Shape& s : kShapes) {
    const int64_t groups = s.rows * s.cols / s.group;
    std::vector<double> x = RandomVector(s.n * s.cols, 1), w = RandomVector(s.rows * s.cols, 2);
    std::vector<double> alpha = RandomVector(groups, 3), gamma = RandomVector(groups, 4, 0.1);
    std::vector<double> t(w.size()), what(w.size()), y(s.n * s.rows);
    DltTernaryRef({Host(w, {s.rows, s.cols}), s.group, Host(t, {s.rows, s.cols})});
    DltWeightsRef({Host(w, {s.rows, s.cols}), Host(alpha, {groups}), Host(gamma, {groups}), s.group,
                   Host(what, {s.rows, s.cols})});
    for (size_t i = 0; i < t.size(); ++i) {
      ASSERT_TRUE(t[i] == 0 || t[i] == 1 || t[i] == -1) << s.Name() << " " << i;
      ASSERT_EQ(what[i], alpha[i / s.group] * t[i] + gamma[i / s.group]) << s.Name() << " " << i;
    }
    DltLinearForwardRef({Host(x, {s.n, s.cols}), Host(t, {s.rows, s.cols}), Host(alpha, {groups}),
                         Host(gamma, {groups}), s.group, Host(y, {s.n, s.rows})});
    for (int64_t r = 0; r < s.n; ++r) {
      for (int64_t o = 0; o < s.rows; ++o) {
        double dense = 0;
        for (int64_t i = 0; i < s.cols; ++i) dense += what[o * s.cols + i] * x[r * s.cols + i];
        // f64 sums of O(10) terms of O(1): reassociation error ~1e-15.
        ASSERT_NEAR(y[r * s.rows + o], dense, 1e-12) << s.Name() << " at " << r << "," << o;
      }
    }
  }
}

// L = sum_k c_k y_k with y = x W_hat^T: dW_hat = c^T x; DltBackward maps it to alpha and gamma
// (checked by central differences: T does not move with them) and to the latents (alpha dW_hat).
TEST(Dlt, GradientsToAlphaAndGammaMatchFiniteDifferences) {
  for (const Shape& s : kShapes) {
    const int64_t groups = s.rows * s.cols / s.group;
    std::vector<double> x = RandomVector(s.n * s.cols, 5), w = RandomVector(s.rows * s.cols, 6);
    std::vector<double> alpha = RandomVector(groups, 7), gamma = RandomVector(groups, 8, 0.1);
    const std::vector<double> c = RandomVector(s.n * s.rows, 9);
    std::vector<double> t(w.size());
    DltTernaryRef({Host(w, {s.rows, s.cols}), s.group, Host(t, {s.rows, s.cols})});
    auto loss = [&]() {
      std::vector<double> y(s.n * s.rows);
      DltLinearForwardRef({Host(x, {s.n, s.cols}), Host(t, {s.rows, s.cols}), Host(alpha, {groups}),
                           Host(gamma, {groups}), s.group, Host(y, {s.n, s.rows})});
      return testing::WeightedSum(y, c);
    };
    std::vector<double> dwhat(w.size(), 0.0);
    for (int64_t r = 0; r < s.n; ++r) {
      for (int64_t o = 0; o < s.rows; ++o) {
        for (int64_t i = 0; i < s.cols; ++i) {
          dwhat[o * s.cols + i] += c[r * s.rows + o] * x[r * s.cols + i];
        }
      }
    }
    std::vector<double> dw(w.size(), 0.5), dalpha(groups, 0.25), dgamma(groups, -0.25);
    DltBackwardRef({Host(w, {s.rows, s.cols}), Host(alpha, {groups}), s.group,
                    Host(dwhat, {s.rows, s.cols}), Host(dw, {s.rows, s.cols}),
                    Host(dalpha, {groups}), Host(dgamma, {groups})});
    // The outputs are added to: subtract what was there.
    for (double& g : dalpha) g -= 0.25;
    for (double& g : dgamma) g += 0.25;
    ExpectGradientMatches(alpha, loss, dalpha, "d alpha " + s.Name());
    ExpectGradientMatches(gamma, loss, dgamma, "d gamma " + s.Name());
    for (size_t i = 0; i < w.size(); ++i) {
      ASSERT_EQ(dw[i], 0.5 + alpha[i / s.group] * dwhat[i]) << "STE latent gradient " << i;
    }
  }
}

// ---------------------------------------------------------------- CUDA twin

TEST(DltTwin, MatchesTheCpuTwin) {
  DQT_REQUIRE_CUDA();
  for (const Shape& s : kShapes) {
    const int64_t groups = s.rows * s.cols / s.group;
    TwinTensor w({s.rows, s.cols}), alpha({groups}), gamma({groups}), t({s.rows, s.cols}),
        what({s.rows, s.cols}), x({s.n, s.cols}), y({s.n, s.rows}), dwhat({s.rows, s.cols}),
        dw({s.rows, s.cols}), dalpha({groups}), dgamma({groups});
    std::mt19937 rng(11);
    std::normal_distribution<float> dist(0.0f, 1.0f);
    for (TwinTensor* v : {&w, &alpha, &gamma, &x, &dwhat, &dw, &dalpha, &dgamma}) {
      for (int64_t i = 0; i < v->numel(); ++i) v->SetFloat(i, dist(rng));
      v->ToDevice();
    }
    std::vector<float> wf = w.Floats(), af = alpha.Floats(), gf = gamma.Floats(), xf = x.Floats();
    std::vector<float> tw(wf.size()), whw(wf.size()), yw(s.n * s.rows);
    std::vector<float> dww = dw.Floats(), daw = dalpha.Floats(), dgw = dgamma.Floats();
    std::vector<float> dwh = dwhat.Floats();
    const ExecContext cuda = CudaContext();
    DltTernary(cuda, {w.DeviceRef(), s.group, t.DeviceRef()});
    DltWeights(cuda,
               {w.DeviceRef(), alpha.DeviceRef(), gamma.DeviceRef(), s.group, what.DeviceRef()});
    DltLinearForward(cuda, {x.DeviceRef(), t.DeviceRef(), alpha.DeviceRef(), gamma.DeviceRef(),
                            s.group, y.DeviceRef()});
    DltBackward(cuda, {w.DeviceRef(), alpha.DeviceRef(), s.group, dwhat.DeviceRef(), dw.DeviceRef(),
                       dalpha.DeviceRef(), dgamma.DeviceRef()});
    for (TwinTensor* v : {&t, &what, &y, &dw, &dalpha, &dgamma}) v->FromDevice();
    DltTernaryRef({Host(wf, {s.rows, s.cols}), s.group, Host(tw, {s.rows, s.cols})});
    DltWeightsRef({Host(wf, {s.rows, s.cols}), Host(af, {groups}), Host(gf, {groups}), s.group,
                   Host(whw, {s.rows, s.cols})});
    DltLinearForwardRef({Host(xf, {s.n, s.cols}), Host(tw, {s.rows, s.cols}), Host(af, {groups}),
                         Host(gf, {groups}), s.group, Host(yw, {s.n, s.rows})});
    DltBackwardRef({Host(wf, {s.rows, s.cols}), Host(af, {groups}), s.group,
                    Host(dwh, {s.rows, s.cols}), Host(dww, {s.rows, s.cols}), Host(daw, {groups}),
                    Host(dgw, {groups})});
    // T and W_hat: the same threshold test and one fp32 multiply-add: bit for bit. The sums of
    // the forward and of the group gradients run in another order: fp32 reassociation tolerance.
    ExpectBytesEqual(tw.data(), t.host<float>(), tw.size() * 4, "T " + s.Name());
    ExpectBytesEqual(whw.data(), what.host<float>(), whw.size() * 4, "W_hat " + s.Name());
    ExpectBytesEqual(dww.data(), dw.host<float>(), dww.size() * 4, "dw " + s.Name());
    ExpectAllNear(yw, y.Floats(), 1e-5, 1e-5, "y " + s.Name());
    ExpectAllNear(daw, dalpha.Floats(), 1e-5, 1e-5, "dalpha " + s.Name());
    ExpectAllNear(dgw, dgamma.Floats(), 1e-5, 1e-5, "dgamma " + s.Name());
  }
}

}  // namespace
}  // namespace dqt
