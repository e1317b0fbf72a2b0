// DQT update: stochastic rounding is unbiased and clips; the fp32 update equals a scalar reference
// written from the formula, bit for bit; codes do not depend on threads or slicing; CUDA == CPU.
#include "kernels/sr_update.h"

#include <omp.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "core/base/philox.h"
#include "gtest/gtest.h"
#include "kernels/device.h"
#include "tests/testing/status_matchers.h"

#if defined(DQT_HAVE_CUDA)
#include <cuda_runtime.h>
#endif

namespace dqt {
namespace {

using testing::IsOk;
using testing::StatusIs;

// ---------------------------------------------------------------- stochastic rounding

TEST(StochasticRound, IsUnbiasedAndLandsOnTheTwoNeighbours) {
  struct Case {
    QuantGrid grid;
    float y;
  };
  const Case cases[] = {{QuantGrid::Integer(4), 0.3f},     {QuantGrid::Integer(4), -1.7f},
                        {QuantGrid::Integer(4), 2.5f},     {QuantGrid::Integer(4), -7.9f},
                        {QuantGrid::Integer(8), 126.125f}, {QuantGrid::Ternary(), 0.25f},
                        {QuantGrid::Ternary(), -0.6f}};
  const int n = 200000;
  const RngKey key = MakeRngKey(2024, 3);
  for (const Case& c : cases) {
    const float low = std::floor(c.y);
    const double p = c.y - low;
    double sum = 0;
    for (int i = 0; i < n; ++i) {
      const int8_t code = StochasticRound(c.y, SrUniform(key, 7, i), c.grid);
      ASSERT_TRUE(code == low || code == low + 1)
          << c.grid.name() << " y=" << c.y << " gave " << int{code} << " at index " << i;
      sum += code;
    }
    // The mean of n Bernoulli(p) draws has standard error sqrt(p (1 - p) / n); 5 of them.
    const double bound = 5.0 * std::sqrt(p * (1.0 - p) / n);
    EXPECT_NEAR(sum / n, c.y, bound) << c.grid.name() << " y=" << c.y;
  }
}

TEST(StochasticRound, ClipsBeyondTheGridAndKeepsIntegers) {
  const QuantGrid int4 = QuantGrid::Integer(4), ternary = QuantGrid::Ternary();
  const float inf = std::numeric_limits<float>::infinity();
  for (float u : {0.0f, 0.5f, 0.99999994f}) {
    for (float y : {7.0f, 7.25f, 100.0f, inf}) EXPECT_EQ(StochasticRound(y, u, int4), 7) << y;
    for (float y : {-8.0f, -8.5f, -1e9f, -inf}) EXPECT_EQ(StochasticRound(y, u, int4), -8) << y;
    for (float y : {1.0f, 1.7f, inf}) EXPECT_EQ(StochasticRound(y, u, ternary), 1) << y;
    for (float y : {-1.0f, -3.0f}) EXPECT_EQ(StochasticRound(y, u, ternary), -1) << y;
    for (float y : {-5.0f, 0.0f, 3.0f}) EXPECT_EQ(StochasticRound(y, u, int4), y) << y;
    EXPECT_EQ(StochasticRound(std::nanf(""), u, int4), -8);
  }
}

// ---------------------------------------------------------------- scalar reference

struct Hyper {
  float scale, lr, beta1 = 0.9f, beta2 = 0.999f, eps = 1e-6f, weight_decay = 0.01f;
  uint64_t seed = 99;
  uint32_t param_id = 4;
  QuantGrid grid;
};

// ALGORITHMS.md 4 written out for one element, with the rounding choices the header states
// (constants in double rounded once to float, then fp32 in formula order). Updates *m, *v and
// returns y, the value before rounding onto the grid.
float ReferenceTarget(const Hyper& h, int step, int8_t code, float g, float* m, float* v) {
  double beta1_t = 1.0, beta2_t = 1.0;  // b^t by square-and-multiply, as the header states
  for (int e = step, bit = 0; e > 0; e >>= 1, ++bit) {
    if (e & 1) {
      double p1 = h.beta1, p2 = h.beta2;
      for (int k = 0; k < bit; ++k) p1 *= p1, p2 *= p2;
      beta1_t *= p1;
      beta2_t *= p2;
    }
  }
  const double bias1 = 1.0 - beta1_t;
  const double bias2 = 1.0 - beta2_t;
  const float step_size = static_cast<float>(h.lr * std::sqrt(bias2) / bias1);
  const float lr_wd = static_cast<float>(static_cast<double>(h.lr) * h.weight_decay);
  const float one_minus_b1 = static_cast<float>(1.0 - h.beta1);
  const float one_minus_b2 = static_cast<float>(1.0 - h.beta2);
  *m = h.beta1 * *m + one_minus_b1 * g;
  *v = h.beta2 * *v + one_minus_b2 * (g * g);
  const float w = static_cast<float>(code) / h.scale;
  float w_new = w - step_size * (*m / (std::sqrt(*v) + h.eps));
  w_new = w_new - lr_wd * w_new;
  return w_new * h.scale;
}

DqtUpdateStats ReferenceStep(const Hyper& h, int step, uint64_t offset, const float* grad,
                             int64_t n, int8_t* codes, float* m, float* v) {
  const RngKey key = MakeRngKey(h.seed, h.param_id);
  DqtUpdateStats stats;
  for (int64_t i = 0; i < n; ++i) {
    const int8_t old = codes[i];
    if (std::isfinite(grad[i])) {
      const float y = ReferenceTarget(h, step, old, grad[i], &m[i], &v[i]);
      const uint64_t gi = offset + i;
      const uint32_t bits =
          RngBlock(key, RngPurpose::kStochasticRounding, step, gi / 4).v[gi % 4] >> 8;
      const float u = static_cast<float>(bits) / 16777216.0f;
      if (y >= h.grid.qmax()) {
        codes[i] = h.grid.qmax();
      } else if (y <= h.grid.qmin()) {
        codes[i] = h.grid.qmin();
      } else {
        const float low = std::floor(y);
        codes[i] = static_cast<int8_t>(low + (u < y - low ? 1.0f : 0.0f));
      }
    } else {
      ++stats.nonfinite;
    }
    stats.changed += codes[i] != old;
    stats.zeros += codes[i] == 0;
    stats.at_qmin += codes[i] == h.grid.qmin();
    stats.at_qmax += codes[i] == h.grid.qmax();
  }
  return stats;
}

// Gradient of global element gi at `step` (pure function, so every slicing sees the same one).
float Gradient(uint64_t gi, int step) {
  return 0.01f * NormalAt(MakeRngKey(7, 1), RngPurpose::kInit, step, gi) +
         0.003f * NormalAt(MakeRngKey(7, 2), RngPurpose::kInit, 0, gi);
}

// DQT init (ALGORITHMS.md 4): W0 ~ N(0, 0.02), c = clamp(round(W0 s)).
std::vector<int8_t> InitialCodes(const Hyper& h, int64_t n) {
  std::vector<int8_t> codes(n);
  for (int64_t i = 0; i < n; ++i) {
    const float y =
        std::nearbyint(0.02f * NormalAt(MakeRngKey(7, 3), RngPurpose::kInit, 0, i) * h.scale);
    codes[i] = static_cast<int8_t>(std::fmin(std::fmax(y, h.grid.qmin()), h.grid.qmax()));
  }
  return codes;
}

DqtUpdateArgs MakeArgs(const Hyper& h, int step, uint64_t offset, int64_t n, int8_t* codes,
                       const float* grad, MomentsView moments) {
  DqtUpdateArgs a;
  a.codes = codes;
  a.grad = grad;
  a.moments = moments;
  a.n = n;
  a.global_offset = offset;
  a.scale = h.scale;
  a.lr = h.lr;
  a.beta1 = h.beta1;
  a.beta2 = h.beta2;
  a.eps = h.eps;
  a.weight_decay = h.weight_decay;
  a.step = step;
  a.seed = h.seed;
  a.param_id = h.param_id;
  a.grid = h.grid;
  return a;
}

uint32_t Bits(float x) {
  uint32_t b;
  std::memcpy(&b, &x, sizeof b);
  return b;
}

void ExpectStatsEq(const DqtUpdateStats& a, const DqtUpdateStats& b, const std::string& what) {
  EXPECT_EQ(a.changed, b.changed) << what;
  EXPECT_EQ(a.zeros, b.zeros) << what;
  EXPECT_EQ(a.at_qmin, b.at_qmin) << what;
  EXPECT_EQ(a.at_qmax, b.at_qmax) << what;
  EXPECT_EQ(a.nonfinite, b.nonfinite) << what;
}

Hyper Int4Hyper() {  // s = Qp / mean|W0| = 7 / 0.016: one Adam step moves y by ~0.4 levels
  Hyper h;
  h.scale = 437.5f;
  h.lr = 1e-3f;
  h.grid = QuantGrid::Integer(4);
  return h;
}
Hyper TernaryHyper() {  // s = 1 / mean|W0|; a larger lr so that codes flip within a few steps
  Hyper h;
  h.scale = 62.5f;
  h.lr = 5e-3f;
  h.weight_decay = 0.1f;
  h.grid = QuantGrid::Ternary();
  return h;
}

TEST(DqtUpdate, Fp32MatchesScalarReferenceBitForBit) {
  for (const Hyper& h : {Int4Hyper(), TernaryHyper()}) {
    const int64_t n = 1000;
    const uint64_t offset = 12345;  // not a multiple of 4: Philox words start mid-block
    std::vector<int8_t> codes = InitialCodes(h, n), ref_codes = codes;
    std::vector<float> ref_m(n, 0.0f), ref_v(n, 0.0f), grad(n), m(kMomentBlock), v(kMomentBlock);
    MomentStore store(MomentFormat::kFp32, n, offset);
    int64_t total_changed = 0;
    for (int step = 1; step <= 6; ++step) {
      for (int64_t i = 0; i < n; ++i) grad[i] = Gradient(offset + i, step);
      grad[17] = std::nanf("");  // skipped elements: code and moments untouched
      grad[400] = -std::numeric_limits<float>::infinity();
      const DqtUpdateStats ref = ReferenceStep(h, step, offset, grad.data(), n, ref_codes.data(),
                                               ref_m.data(), ref_v.data());
      const DqtUpdateStats got =
          DqtUpdateRef(MakeArgs(h, step, offset, n, codes.data(), grad.data(), store.view()));
      const std::string what = std::string(h.grid.name()) + " step " + std::to_string(step);
      ExpectStatsEq(got, ref, what);
      EXPECT_EQ(got.nonfinite, 2) << what;
      total_changed += got.changed;
      for (int64_t b = 0; b < store.blocks(); ++b) {
        store.Load(b, m.data(), v.data());
        for (int i = 0; i < store.view().BlockSize(b); ++i) {
          const int64_t e = b * kMomentBlock + i;
          ASSERT_EQ(codes[e], ref_codes[e]) << what << " code at " << e;
          ASSERT_EQ(Bits(m[i]), Bits(ref_m[e]))
              << what << " m at " << e << ": " << m[i] << " vs " << ref_m[e];
          ASSERT_EQ(Bits(v[i]), Bits(ref_v[e])) << what << " v at " << e;
        }
      }
    }
    EXPECT_GT(total_changed, n / 10) << h.grid.name() << ": the test should move codes";
  }
}

// A one-ulp difference in y flips a code only when u falls within that ulp, so the code
// comparison above cannot see it: compare y itself over many random states and steps.
TEST(DqtUpdate, TargetValueMatchesReferenceBitForBit) {
  const RngKey key = MakeRngKey(31, 0);
  for (Hyper h : {Int4Hyper(), TernaryHyper()}) {
    for (int i = 0; i < 20000; ++i) {
      const Philox4x32 r = RngBlock(key, RngPurpose::kInit, 0, i);
      const int step = 1 + static_cast<int>(r.v[0] % 3000);
      const int8_t code = static_cast<int8_t>(
          h.grid.qmin() + static_cast<int>(r.v[1] % static_cast<uint32_t>(h.grid.levels())));
      const float g = 0.01f * NormalAt(key, RngPurpose::kInit, 1, i);
      const float m0 = 0.01f * NormalAt(key, RngPurpose::kInit, 2, i);
      const float v0 = 1e-4f * UniformFromBits(r.v[2]);
      h.lr = 1e-2f * UniformFromBits(r.v[3]);
      DqtUpdateArgs args = MakeArgs(h, step, 0, 0, nullptr, nullptr, MomentsView{});
      float m = m0, v = v0, ref_m = m0, ref_v = v0;
      const float y = DqtTarget(code, g, &m, &v, MakeDqtUpdateConstants(args));
      const float ref_y = ReferenceTarget(h, step, code, g, &ref_m, &ref_v);
      ASSERT_EQ(Bits(y), Bits(ref_y))
          << h.grid.name() << " case " << i << ": " << y << " vs " << ref_y;
      ASSERT_EQ(Bits(m), Bits(ref_m)) << "case " << i;
      ASSERT_EQ(Bits(v), Bits(ref_v)) << "case " << i;
    }
  }
}

// ---------------------------------------------------------------- threads and slicing

struct Layout {
  MomentFormat format;
  Hyper hyper;
  int64_t n;
  std::vector<int64_t> cuts;  // slice boundaries, 0 < cut < n
};

struct RunResult {
  std::vector<int8_t> codes;
  std::vector<float> m, v;
  std::vector<DqtUpdateStats> stats;  // per step, summed over slices
};

RunResult RunSliced(const Layout& l, const std::vector<int64_t>& cuts, int threads, int steps) {
  const int saved = omp_get_max_threads();
  omp_set_num_threads(threads);
  std::vector<int64_t> bounds = {0};
  bounds.insert(bounds.end(), cuts.begin(), cuts.end());
  bounds.push_back(l.n);
  std::vector<MomentStore> stores;
  for (size_t s = 0; s + 1 < bounds.size(); ++s) {
    stores.emplace_back(l.format, bounds[s + 1] - bounds[s], static_cast<uint64_t>(bounds[s]));
  }
  RunResult r;
  r.codes = InitialCodes(l.hyper, l.n);
  std::vector<float> grad(l.n);
  for (int step = 1; step <= steps; ++step) {
    for (int64_t i = 0; i < l.n; ++i) grad[i] = Gradient(i, step);
    DqtUpdateStats total;
    for (size_t s = 0; s < stores.size(); ++s) {
      const int64_t first = bounds[s];
      total += DqtUpdateRef(MakeArgs(l.hyper, step, first, stores[s].size(), r.codes.data() + first,
                                     grad.data() + first, stores[s].view()));
    }
    r.stats.push_back(total);
  }
  std::vector<float> m(kMomentBlock), v(kMomentBlock);
  for (MomentStore& store : stores) {
    for (int64_t b = 0; b < store.blocks(); ++b) {
      store.Load(b, m.data(), v.data());
      r.m.insert(r.m.end(), m.begin(), m.begin() + store.view().BlockSize(b));
      r.v.insert(r.v.end(), v.begin(), v.begin() + store.view().BlockSize(b));
    }
  }
  omp_set_num_threads(saved);
  return r;
}

void ExpectSameRun(const RunResult& a, const RunResult& b, const std::string& what) {
  ASSERT_EQ(a.codes.size(), b.codes.size());
  for (size_t i = 0; i < a.codes.size(); ++i) {
    ASSERT_EQ(a.codes[i], b.codes[i]) << what << ": code at " << i;
    ASSERT_EQ(Bits(a.m[i]), Bits(b.m[i])) << what << ": m at " << i;
    ASSERT_EQ(Bits(a.v[i]), Bits(b.v[i])) << what << ": v at " << i;
  }
  for (size_t s = 0; s < a.stats.size(); ++s) {
    ExpectStatsEq(a.stats[s], b.stats[s], what + " step " + std::to_string(s + 1));
  }
}

TEST(DqtUpdate, SameCodesForAnyThreadCountAndSlicing) {
  const Layout layouts[] = {
      {MomentFormat::kFp32, Int4Hyper(), 1000, {333, 601}},
      {MomentFormat::kBf16, TernaryHyper(), 1000, {1, 998}},
      // block8 slices must start on a 256-element block of the whole tensor.
      {MomentFormat::kBlock8, Int4Hyper(), 5 * kMomentBlock + 77, {256, 1024}},
      {MomentFormat::kBlock8, TernaryHyper(), 5 * kMomentBlock + 77, {512, 768}},
  };
  for (const Layout& l : layouts) {
    const std::string name =
        std::string(MomentFormatName(l.format)) + "/" + l.hyper.grid.name() + " ";
    const RunResult one_thread = RunSliced(l, {}, 1, 5);
    int64_t changed = 0;
    for (const DqtUpdateStats& s : one_thread.stats) changed += s.changed;
    EXPECT_GT(changed, l.n / 10) << name << "codes should move";
    ExpectSameRun(one_thread, RunSliced(l, {}, 2, 5), name + "1 vs 2 threads");
    ExpectSameRun(one_thread, RunSliced(l, l.cuts, 2, 5), name + "whole vs 3 slices");
    ExpectSameRun(one_thread, RunSliced(l, l.cuts, 1, 5), name + "whole vs 3 slices, 1 thread");
  }
}

// ---------------------------------------------------------------- validation

TEST(DqtUpdate, ValidationNamesTheProblem) {
  MomentStore store(MomentFormat::kBlock8, 300, 256);
  std::vector<int8_t> codes(300, 0);
  std::vector<float> grad(300, 0.0f);
  const Hyper h = Int4Hyper();
  const DqtUpdateArgs good = MakeArgs(h, 1, 256, 300, codes.data(), grad.data(), store.view());
  EXPECT_THAT(ValidateDqtUpdateArgs(good), IsOk());

  DqtUpdateArgs a = good;
  a.scale = 0.0f;
  EXPECT_THAT(ValidateDqtUpdateArgs(a), StatusIs(absl::StatusCode::kInvalidArgument, "scale"));
  a = good;
  a.step = 0;
  EXPECT_THAT(ValidateDqtUpdateArgs(a), StatusIs(absl::StatusCode::kInvalidArgument, "step"));
  a = good;
  a.global_offset = 0;
  EXPECT_THAT(ValidateDqtUpdateArgs(a), StatusIs(absl::StatusCode::kInvalidArgument, "moments"));
  a = good;
  a.global_offset = a.moments.global_offset = 100;
  EXPECT_THAT(ValidateDqtUpdateArgs(a), StatusIs(absl::StatusCode::kInvalidArgument, "block8"));
  a = good;
  a.beta2 = 1.0f;
  EXPECT_THAT(ValidateDqtUpdateArgs(a), StatusIs(absl::StatusCode::kInvalidArgument, "beta"));
  a = good;
  a.grid.bits = 9;
  EXPECT_THAT(ValidateDqtUpdateArgs(a), StatusIs(absl::StatusCode::kInvalidArgument, "grid"));
}

// ---------------------------------------------------------------- CUDA twin

#if defined(DQT_HAVE_CUDA)
void CudaOk(cudaError_t e) { ASSERT_EQ(e, cudaSuccess) << cudaGetErrorString(e); }

TEST(DqtUpdateTwin, MatchesCpuBitForBit) {
  if (CudaDeviceCount() == 0) GTEST_SKIP() << "no CUDA device";
  const Layout layouts[] = {{MomentFormat::kFp32, Int4Hyper(), 100003, {}},
                            {MomentFormat::kBf16, TernaryHyper(), 70001, {}},
                            {MomentFormat::kBlock8, Int4Hyper(), 90000, {}},
                            {MomentFormat::kBlock8, TernaryHyper(), 1000, {}}};
  for (const Layout& l : layouts) {
    const std::string name = std::string(MomentFormatName(l.format)) + "/" + l.hyper.grid.name();
    const int64_t n = l.n;
    const uint64_t offset = l.format == MomentFormat::kBlock8 ? 4 * kMomentBlock : 6;
    MomentStore cpu(l.format, n, offset), back(l.format, n, offset);
    std::vector<int8_t> codes = InitialCodes(l.hyper, n), gpu_codes(n);
    std::vector<float> grad(n);

    const int64_t array_bytes = MomentArrayBytes(l.format, n);
    const int64_t scales = MomentScaleCount(l.format, n);
    int8_t* d_codes;
    float* d_grad;
    DqtUpdateStats* d_stats;
    MomentsView d_view = cpu.view();
    CudaOk(cudaMalloc(&d_codes, n));
    CudaOk(cudaMalloc(&d_grad, n * sizeof(float)));
    CudaOk(cudaMalloc(&d_stats, sizeof(DqtUpdateStats)));
    CudaOk(cudaMalloc(&d_view.m, array_bytes));
    CudaOk(cudaMalloc(&d_view.v, array_bytes));
    CudaOk(cudaMemset(d_view.m, 0, array_bytes));
    CudaOk(cudaMemset(d_view.v, 0, array_bytes));
    if (scales > 0) {
      CudaOk(cudaMalloc(&d_view.m_absmax, scales * sizeof(float)));
      CudaOk(cudaMalloc(&d_view.v_max, scales * sizeof(float)));
      CudaOk(cudaMemset(d_view.m_absmax, 0, scales * sizeof(float)));
      CudaOk(cudaMemset(d_view.v_max, 0, scales * sizeof(float)));
    }
    CudaOk(cudaMemcpy(d_codes, codes.data(), n, cudaMemcpyHostToDevice));

    for (int step = 1; step <= 4; ++step) {
      for (int64_t i = 0; i < n; ++i) grad[i] = Gradient(offset + i, step);
      grad[n / 2] = std::nanf("");
      CudaOk(cudaMemcpy(d_grad, grad.data(), n * sizeof(float), cudaMemcpyHostToDevice));
      CudaOk(cudaMemset(d_stats, 0, sizeof(DqtUpdateStats)));
      ASSERT_THAT(DqtUpdateCuda(MakeArgs(l.hyper, step, offset, n, d_codes, d_grad, d_view),
                                d_stats, nullptr),
                  IsOk());
      const DqtUpdateStats want =
          DqtUpdateRef(MakeArgs(l.hyper, step, offset, n, codes.data(), grad.data(), cpu.view()));
      DqtUpdateStats got;
      CudaOk(cudaMemcpy(&got, d_stats, sizeof got, cudaMemcpyDeviceToHost));
      ExpectStatsEq(got, want, name + " step " + std::to_string(step));
    }
    const MomentsView h_view = back.view();
    CudaOk(cudaMemcpy(gpu_codes.data(), d_codes, n, cudaMemcpyDeviceToHost));
    CudaOk(cudaMemcpy(h_view.m, d_view.m, array_bytes, cudaMemcpyDeviceToHost));
    CudaOk(cudaMemcpy(h_view.v, d_view.v, array_bytes, cudaMemcpyDeviceToHost));
    if (scales > 0) {
      CudaOk(cudaMemcpy(h_view.m_absmax, d_view.m_absmax, scales * 4, cudaMemcpyDeviceToHost));
      CudaOk(cudaMemcpy(h_view.v_max, d_view.v_max, scales * 4, cudaMemcpyDeviceToHost));
    }
    std::vector<float> m(kMomentBlock), v(kMomentBlock), gm(kMomentBlock), gv(kMomentBlock);
    for (int64_t b = 0; b < cpu.blocks(); ++b) {
      cpu.Load(b, m.data(), v.data());
      back.Load(b, gm.data(), gv.data());
      for (int i = 0; i < cpu.view().BlockSize(b); ++i) {
        const int64_t e = b * kMomentBlock + i;
        ASSERT_EQ(gpu_codes[e], codes[e]) << name << " code at " << e;
        ASSERT_EQ(Bits(gm[i]), Bits(m[i]))
            << name << " m at " << e << ": " << gm[i] << " vs " << m[i];
        ASSERT_EQ(Bits(gv[i]), Bits(v[i])) << name << " v at " << e;
      }
    }
    for (void* p : {static_cast<void*>(d_codes), static_cast<void*>(d_grad),
                    static_cast<void*>(d_stats), d_view.m, d_view.v,
                    static_cast<void*>(d_view.m_absmax), static_cast<void*>(d_view.v_max)}) {
      if (p != nullptr) CudaOk(cudaFree(p));
    }
  }
}
#else
TEST(DqtUpdateTwin, MatchesCpuBitForBit) { GTEST_SKIP() << "built without CUDA"; }
#endif

// eps = 0 divides m = 0 by sqrt(v) = 0 for a weight that saw only zero gradients: refused.
TEST(DqtUpdateAdversarial, ValidationRejectsZeroEps) {
  MomentStore store(MomentFormat::kBlock8, 300, 256);
  std::vector<int8_t> codes(300, 0);
  std::vector<float> grad(300, 0.0f);
  DqtUpdateArgs a = MakeArgs(Int4Hyper(), 1, 256, 300, codes.data(), grad.data(), store.view());
  a.eps = 0.0f;
  EXPECT_THAT(ValidateDqtUpdateArgs(a), StatusIs(absl::StatusCode::kInvalidArgument, "eps > 0"));
}

}  // namespace
}  // namespace dqt
