// Mask ops: exact values of the CPU twins (top-k with ties and negative scores, magnitude keys,
// masks on codes and values, unions, counts, the score step against a double reference), and the
// CUDA twins bit for bit against them.
#include "kernels/mask.h"

#include <algorithm>
#include <cmath>
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

std::vector<uint8_t> TopK(std::vector<float> scores, int64_t k, ScoreKey key) {
  std::vector<int32_t> scratch(TopKMaskScratch(scores.size()));
  std::vector<uint8_t> mask(scores.size(), 7);
  TopKMask(ExecContext::Cpu(), {Host(scores), k, key, Host(scratch), Host(mask)});
  return mask;
}

TEST(TopKMask, KeepsTheLargest) {
  const std::vector<float> s = {0.5f, -3.0f, 2.0f, -0.0f, 0.0f, 1.0f, -1.5f};
  EXPECT_EQ(TopK(s, 1, ScoreKey::kValue), (std::vector<uint8_t>{0, 0, 1, 0, 0, 0, 0}));
  EXPECT_EQ(TopK(s, 3, ScoreKey::kValue), (std::vector<uint8_t>{1, 0, 1, 0, 0, 1, 0}));
  // +0 ranks above -0; all seven kept at k = n.
  EXPECT_EQ(TopK(s, 4, ScoreKey::kValue), (std::vector<uint8_t>{1, 0, 1, 0, 1, 1, 0}));
  EXPECT_EQ(TopK(s, 7, ScoreKey::kValue), std::vector<uint8_t>(7, 1));
  // Magnitudes: |-3| and |2| first, then |-1.5|.
  EXPECT_EQ(TopK(s, 3, ScoreKey::kAbs), (std::vector<uint8_t>{0, 1, 1, 0, 0, 0, 1}));
  // A tie at the k-th key keeps every tied element.
  EXPECT_EQ(TopK({1.0f, 2.0f, 1.0f, 0.0f}, 2, ScoreKey::kValue),
            (std::vector<uint8_t>{1, 1, 1, 0}));
}

TEST(TopKMask, ExactCountOnRandomScores) {
  std::mt19937 rng(5);
  std::normal_distribution<float> dist;
  std::vector<float> s(1001);
  for (float& x : s) x = dist(rng);
  for (int64_t k : {1, 2, 100, 500, 1000, 1001}) {
    const std::vector<uint8_t> mask = TopK(s, k, ScoreKey::kValue);
    EXPECT_EQ(std::count(mask.begin(), mask.end(), 1), k) << k;
    float kept_min = INFINITY, dropped_max = -INFINITY;
    for (size_t i = 0; i < s.size(); ++i) {
      if (mask[i]) kept_min = std::min(kept_min, s[i]);
      if (!mask[i]) dropped_max = std::max(dropped_max, s[i]);
    }
    EXPECT_GT(kept_min, dropped_max) << k;
  }
}

TEST(ApplyMask, CodesValuesUnionCountAccumulate) {
  const ExecContext cpu = ExecContext::Cpu();
  std::vector<uint8_t> mask = {1, 0, 1, 0, 1};
  std::vector<int8_t> codes = {-3, 4, 5, -128, 127}, masked(5, 9);
  ApplyMask(cpu, {Host(codes), Host(mask), Host(masked)});
  EXPECT_EQ(masked, (std::vector<int8_t>{-3, 0, 5, 0, 127}));
  std::vector<float> values = {0.5f, -1.0f, 2.0f, 3.0f, -4.0f};
  ApplyMask(cpu, {Host(values), Host(mask), Host(values)});  // in place
  EXPECT_EQ(values, (std::vector<float>{0.5f, 0.0f, 2.0f, 0.0f, -4.0f}));
  std::vector<uint8_t> acc = {0, 0, 0, 1, 0};
  MaskUnion(cpu, {Host(mask), Host(acc)});
  EXPECT_EQ(acc, (std::vector<uint8_t>{1, 0, 1, 1, 1}));
  std::vector<int64_t> count(1, -1);
  MaskCount(cpu, {Host(acc), Host(count)});
  EXPECT_EQ(count[0], 4);
  std::vector<float> shared(5, 0.0f);
  MaskAccumulate(cpu, {Host(mask), Host(shared), 0.5f});
  MaskAccumulate(cpu, {Host(acc), Host(shared), 0.5f});
  EXPECT_EQ(shared, (std::vector<float>{1.0f, 0.0f, 1.0f, 0.5f, 1.0f}));
}

// The score step against the formula in double for a few steps: fp32 rounding only, rel 1e-5.
TEST(ScoreAdam, MatchesTheFormula) {
  std::vector<float> s = {0.1f, -0.2f, 0.3f}, m(3), v(3), g = {1.0f, -2.0f, 0.5f},
                     w = {0.5f, 0.25f, -1.0f}, shared = {0.0f, 1.0f, 0.5f};
  std::vector<double> ds(s.begin(), s.end()), dm(3), dv(3);
  const double b1 = 0.9, b2 = 0.999, eps = 1e-8, lr = 0.01, share = 0.3;
  for (int t = 1; t <= 3; ++t) {
    ScoreAdamArgs a{Host(s), Host(m), Host(v), Host(g), Host(w), Host(shared)};
    a.share = share;
    a.lr = lr;
    a.c1 = 1 - std::pow(b1, t);
    a.c2 = 1 - std::pow(b2, t);
    ScoreAdam(ExecContext::Cpu(), a);
    for (int i = 0; i < 3; ++i) {
      const double gi = double(g[i]) * w[i] - share * shared[i];
      dm[i] = b1 * dm[i] + (1 - b1) * gi;
      dv[i] = b2 * dv[i] + (1 - b2) * gi * gi;
      ds[i] -= lr * (dm[i] / a.c1) / (std::sqrt(dv[i] / a.c2) + eps);
      EXPECT_NEAR(s[i], ds[i], 1e-5 * std::fabs(ds[i])) << "t " << t << " i " << i;
    }
  }
  EXPECT_LT(s[0], 0.1f);   // g w > 0: the score falls
  EXPECT_GT(s[1], -0.2f);  // g w < 0 and a sharing reward: it rises
}

TwinTensor Normal(int64_t n, uint32_t seed) {
  TwinTensor t({n});
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  for (int64_t i = 0; i < n; ++i) t.SetFloat(i, dist(rng));
  return t;
}

TwinTensor Bits(int64_t n, uint32_t seed) {
  TwinTensor t({n}, DType::kU8);
  std::mt19937 rng(seed);
  for (int64_t i = 0; i < n; ++i) t.host<uint8_t>()[i] = rng() % 3 == 0;
  return t;
}

constexpr int64_t kSizes[] = {1, 3, 33, 1000, 130 * 1000 + 1, (1 << 20) + 7};

TEST(TopKMaskTwin, BitIdentical) {
  DQT_REQUIRE_CUDA();
  for (int64_t n : kSizes) {
    TwinTensor s = Normal(n, 1);
    if (n > 100) s.SetFloat(7, s.GetFloat(8));  // a tie
    s.ToDevice();
    for (ScoreKey key : {ScoreKey::kValue, ScoreKey::kAbs}) {
      for (int64_t k : {int64_t{1}, (n + 1) / 2, n - n / 10, n}) {
        TwinTensor scratch({TopKMaskScratch(n)}, DType::kI32), mask({n}, DType::kU8),
            want({n}, DType::kU8);
        std::vector<int32_t> host_scratch(TopKMaskScratch(n));
        TopKMask(testing::CpuContext(), {s.HostRef(), k, key, Host(host_scratch), want.HostRef()});
        TopKMask(testing::CudaContext(),
                 {s.DeviceRef(), k, key, scratch.DeviceRef(), mask.DeviceRef()});
        mask.FromDevice();
        testing::ExpectBytesEqual(want.host<uint8_t>(), mask.host<uint8_t>(), n,
                                  "top-k n=" + std::to_string(n) + " k=" + std::to_string(k));
      }
    }
  }
}

TEST(ApplyMaskTwin, BitIdentical) {
  DQT_REQUIRE_CUDA();
  for (int64_t n : kSizes) {
    TwinTensor mask = Bits(n, 2), values = Normal(n, 3), out({n}), codes({n}, DType::kI8),
               out_codes({n}, DType::kI8), acc = Bits(n, 4), count({1}, DType::kI64),
               shared = Normal(n, 5);
    for (int64_t i = 0; i < n; ++i) codes.host<int8_t>()[i] = static_cast<int8_t>(i * 37 % 256);
    for (TwinTensor* t : {&mask, &values, &codes, &acc, &shared}) t->ToDevice();
    const ExecContext cpu = testing::CpuContext(), gpu = testing::CudaContext();
    std::vector<float> want_values(n), want_shared = shared.Floats();
    std::vector<int8_t> want_codes(n);
    std::vector<uint8_t> want_acc(acc.host<uint8_t>(), acc.host<uint8_t>() + n);
    std::vector<int64_t> want_count(1);
    ApplyMask(cpu, {values.HostRef(), mask.HostRef(), Host(want_values)});
    ApplyMask(cpu, {codes.HostRef(), mask.HostRef(), Host(want_codes)});
    MaskUnion(cpu, {mask.HostRef(), Host(want_acc)});
    MaskCount(cpu, {Host(want_acc), Host(want_count)});
    MaskAccumulate(cpu, {mask.HostRef(), Host(want_shared), 0.25f});
    ApplyMask(gpu, {values.DeviceRef(), mask.DeviceRef(), out.DeviceRef()});
    ApplyMask(gpu, {codes.DeviceRef(), mask.DeviceRef(), out_codes.DeviceRef()});
    MaskUnion(gpu, {mask.DeviceRef(), acc.DeviceRef()});
    MaskCount(gpu, {acc.DeviceRef(), count.DeviceRef()});
    MaskAccumulate(gpu, {mask.DeviceRef(), shared.DeviceRef(), 0.25f});
    for (TwinTensor* t : {&out, &out_codes, &acc, &count, &shared}) t->FromDevice();
    const std::string at = " n=" + std::to_string(n);
    testing::ExpectBytesEqual(want_values.data(), out.host<float>(), n * 4, "values" + at);
    testing::ExpectBytesEqual(want_codes.data(), out_codes.host<int8_t>(), n, "codes" + at);
    testing::ExpectBytesEqual(want_acc.data(), acc.host<uint8_t>(), n, "union" + at);
    EXPECT_EQ(count.host<int64_t>()[0], want_count[0]) << at;
    testing::ExpectBytesEqual(want_shared.data(), shared.host<float>(), n * 4, "shared" + at);
  }
}

TEST(ScoreAdamTwin, BitIdentical) {
  DQT_REQUIRE_CUDA();
  for (int64_t n : kSizes) {
    TwinTensor s = Normal(n, 6), m({n}), v({n}), g = Normal(n, 7), w = Normal(n, 8),
               shared = Normal(n, 9);
    for (TwinTensor* t : {&s, &m, &v, &g, &w, &shared}) t->ToDevice();
    std::vector<float> hs = s.Floats(), hm(n), hv(n);
    for (int t = 1; t <= 3; ++t) {  // step 3 without the sharing term
      ScoreAdamArgs a{Host(hs),    Host(hm),    Host(hv),
                      g.HostRef(), w.HostRef(), t < 3 ? shared.HostRef() : TensorRef{}};
      a.share = 0.125f;
      a.lr = 0.01f;
      a.c1 = 1 - std::pow(0.9f, t);
      a.c2 = 1 - std::pow(0.999f, t);
      ScoreAdam(testing::CpuContext(), a);
      a.scores = s.DeviceRef();
      a.m = m.DeviceRef();
      a.v = v.DeviceRef();
      a.grad = g.DeviceRef();
      a.weights = w.DeviceRef();
      a.shared = t < 3 ? shared.DeviceRef() : TensorRef{};
      ScoreAdam(testing::CudaContext(), a);
    }
    s.FromDevice();
    testing::ExpectBytesEqual(hs.data(), s.host<float>(), n * 4, "scores n=" + std::to_string(n));
  }
}

// A score whose gradient is zero keeps v = 0; eps = 0 would make its step 0 / 0: refused.
TEST(ScoreAdamAdversarial, DispatcherRejectsZeroEps) {
  std::vector<float> s(2, 0.5f), m(2), v(2), g(2, 0.0f), w(2, 1.0f), shared;
  ScoreAdamArgs a{Host(s), Host(m), Host(v), Host(g), Host(w), Host(shared)};
  a.lr = 0.01f;
  a.eps = 0.0f;
  EXPECT_DEATH(ScoreAdam(ExecContext::Cpu(), a), "ScoreAdam: eps must be finite and > 0, got 0");
}

}  // namespace
}  // namespace dqt
