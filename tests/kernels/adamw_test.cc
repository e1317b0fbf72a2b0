// fp32 AdamW update (the op; the optimizer class is tested in tests/optim/optimizer_test.cc): the
// CPU twin equals a scalar reference written from the formula in kernels/adamw.h bit for bit and
// tracks an f64 evaluation; the CUDA twin equals the CPU twin bit for bit.
#include "kernels/adamw.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "tests/testing/twin.h"

namespace dqt {
namespace {

AdamWArgs Hyper() {
  AdamWArgs a;
  a.lr = 1e-3f;
  a.beta1 = 0.9f;
  a.beta2 = 0.95f;
  a.eps = 1e-8f;
  a.weight_decay = 0.1f;
  a.bias_correction1 = static_cast<float>(1.0 - std::pow(0.9, 3));
  a.bias_correction2 = static_cast<float>(1.0 - std::pow(0.95, 3));
  a.grad_scale = 0.5f;
  return a;
}

struct State {
  std::vector<float> w, grad, m, v;
};
State RandomState(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  State s{std::vector<float>(n), std::vector<float>(n), std::vector<float>(n),
          std::vector<float>(n)};
  for (int64_t i = 0; i < n; ++i) {
    s.w[i] = 0.02f * dist(rng);
    s.grad[i] = 0.1f * dist(rng);
    s.m[i] = 0.01f * dist(rng);
    s.v[i] = 1e-4f * std::fabs(dist(rng));
  }
  return s;
}

TensorRef Host(std::vector<float>& v) {
  return RefOf(v.data(), Device::kCpu, {static_cast<int64_t>(v.size())});
}

TEST(AdamWUpdate, MatchesScalarReferenceExactly) {
  const AdamWArgs h = Hyper();
  State s = RandomState(1001, 1);
  const State before = s;
  AdamWArgs a = h;
  a.w = Host(s.w), a.grad = Host(s.grad), a.m = Host(s.m), a.v = Host(s.v);
  AdamWUpdate(ExecContext::Cpu(), a);
  for (size_t i = 0; i < s.w.size(); ++i) {
    // The header's formula, one rounded fp32 operation per statement.
    const float g = before.grad[i] * h.grad_scale;
    const float m1 = h.beta1 * before.m[i];
    const float m2 = (1.0f - h.beta1) * g;
    const float m = m1 + m2;
    const float v1 = h.beta2 * before.v[i];
    const float v2 = (1.0f - h.beta2) * g;
    const float v3 = v2 * g;
    const float v = v1 + v3;
    const float m_hat = m / h.bias_correction1;
    const float v_hat = v / h.bias_correction2;
    const float denom = std::sqrt(v_hat) + h.eps;
    const float step = m_hat / denom + h.weight_decay * before.w[i];
    const float w = before.w[i] - h.lr * step;
    ASSERT_EQ(s.m[i], m) << i;
    ASSERT_EQ(s.v[i], v) << i;
    ASSERT_EQ(s.w[i], w) << i;
    // And in f64: the fp32 chain stays within a few ulps of the step (|step| <= ~2 here).
    const double gd = double(before.grad[i]) * h.grad_scale;
    const double md = h.beta1 * double(before.m[i]) + (1.0 - double(h.beta1)) * gd;
    const double vd = h.beta2 * double(before.v[i]) + (1.0 - double(h.beta2)) * gd * gd;
    const double wd =
        before.w[i] -
        double(h.lr) * (md / h.bias_correction1 / (std::sqrt(vd / h.bias_correction2) + h.eps) +
                        h.weight_decay * double(before.w[i]));
    ASSERT_NEAR(s.w[i], wd, 1e-9 + 1e-6 * std::fabs(wd)) << i;
  }
}

TEST(AdamWUpdateTwin, BitIdenticalToCpu) {
  DQT_REQUIRE_CUDA();
  for (int64_t n : {1, 3, 33, 1000, 100003}) {
    State cpu_state = RandomState(n, 7);
    testing::TwinTensor w({n}), grad({n}), m({n}), v({n});
    std::memcpy(w.host<float>(), cpu_state.w.data(), n * sizeof(float));
    std::memcpy(grad.host<float>(), cpu_state.grad.data(), n * sizeof(float));
    std::memcpy(m.host<float>(), cpu_state.m.data(), n * sizeof(float));
    std::memcpy(v.host<float>(), cpu_state.v.data(), n * sizeof(float));
    for (testing::TwinTensor* t : {&w, &grad, &m, &v}) t->ToDevice();
    AdamWArgs a = Hyper();
    a.w = Host(cpu_state.w), a.grad = Host(cpu_state.grad), a.m = Host(cpu_state.m),
    a.v = Host(cpu_state.v);
    for (int step = 0; step < 3; ++step) AdamWUpdate(ExecContext::Cpu(), a);
    a.w = w.DeviceRef(), a.grad = grad.DeviceRef(), a.m = m.DeviceRef(), a.v = v.DeviceRef();
    for (int step = 0; step < 3; ++step) AdamWUpdate(testing::CudaContext(), a);
    for (testing::TwinTensor* t : {&w, &m, &v}) t->FromDevice();
    const std::string what = "n=" + std::to_string(n);
    testing::ExpectBytesEqual(cpu_state.w.data(), w.host<float>(), n * 4, what + " w");
    testing::ExpectBytesEqual(cpu_state.m.data(), m.host<float>(), n * 4, what + " m");
    testing::ExpectBytesEqual(cpu_state.v.data(), v.host<float>(), n * 4, what + " v");
  }
}

// eps = 0 with a zero second moment (a gradient that has been zero) divides 0 by 0: refused.
TEST(AdamWUpdateAdversarial, DispatcherRejectsZeroEps) {
  std::vector<float> w(4, 1.0f), g(4, 0.0f), m(4, 0.0f), v(4, 0.0f);
  AdamWArgs a = Hyper();
  a.w = Host(w), a.grad = Host(g), a.m = Host(m), a.v = Host(v);
  a.eps = 0.0f;
  EXPECT_DEATH(AdamWUpdate(ExecContext::Cpu(), a), "AdamW: eps must be finite and > 0, got 0");
  a.eps = std::numeric_limits<float>::quiet_NaN();
  EXPECT_DEATH(AdamWUpdate(ExecContext::Cpu(), a), "AdamW: eps must be finite and > 0");
}

}  // namespace
}  // namespace dqt
