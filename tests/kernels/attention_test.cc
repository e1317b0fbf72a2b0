// Finite-difference checks of causal GQA attention and the fused cross-entropy, the float
// instantiation against the double one, and (suite AttentionTwin) the CUDA twin against the CPU
// one.
#include "kernels/cpu/attention.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "kernels/attention.h"
#include "kernels/cpu/cross_entropy.h"
#include "tests/kernels/gradcheck.h"
#include "tests/testing/twin.h"

namespace dqt {
namespace {
using namespace ::dqt::cpu;  // NOLINT: the reference math under test

using testing::ExpectGradientMatches;
using testing::RandomVector;
using testing::WeightedSum;

void CheckAttention(const AttentionShape& s) {
  const size_t nq = s.batch * s.seq * s.heads * s.head_dim;
  const size_t nkv = s.batch * s.seq * s.kv_heads * s.head_dim;
  std::vector<double> q = RandomVector(nq, 21), k = RandomVector(nkv, 22),
                      v = RandomVector(nkv, 23);
  const std::vector<double> w = RandomVector(nq, 24);
  std::vector<double> out(nq), probs(s.batch * s.heads * s.seq * s.seq);
  auto loss = [&] {
    AttentionForward(s, q.data(), k.data(), v.data(), out.data(), probs.data());
    return WeightedSum(out, w);
  };
  loss();
  std::vector<double> dq(nq), dk(nkv), dv(nkv);
  AttentionBackward(s, q.data(), k.data(), v.data(), probs.data(), w.data(), dq.data(), dk.data(),
                    dv.data());
  const std::string tag = " H=" + std::to_string(s.heads) + " Hkv=" + std::to_string(s.kv_heads);
  ExpectGradientMatches(q, loss, dq, "attention dq" + tag);
  ExpectGradientMatches(k, loss, dk, "attention dk" + tag);
  ExpectGradientMatches(v, loss, dv, "attention dv" + tag);
}

TEST(Attention, GradientMultiHead) { CheckAttention({2, 7, 3, 3, 5}); }
TEST(Attention, GradientGroupedQuery) { CheckAttention({2, 6, 4, 2, 4}); }
TEST(Attention, GradientSingleToken) { CheckAttention({1, 1, 2, 1, 3}); }

TEST(Attention, CausalOutputIgnoresFuture) {
  const AttentionShape s{1, 6, 2, 1, 4};
  const size_t nq = s.seq * s.heads * s.head_dim, nkv = s.seq * s.kv_heads * s.head_dim;
  std::vector<double> q = RandomVector(nq, 1), k = RandomVector(nkv, 2), v = RandomVector(nkv, 3);
  std::vector<double> out1(nq), out2(nq), probs(s.heads * s.seq * s.seq);
  AttentionForward(s, q.data(), k.data(), v.data(), out1.data(), probs.data());
  // Change the last position's key and value: earlier outputs must not move.
  for (int i = 0; i < s.kv_heads * s.head_dim; ++i) {
    k[(s.seq - 1) * s.kv_heads * s.head_dim + i] += 5.0;
    v[(s.seq - 1) * s.kv_heads * s.head_dim + i] -= 3.0;
  }
  AttentionForward(s, q.data(), k.data(), v.data(), out2.data(), probs.data());
  const size_t before_last = (s.seq - 1) * s.heads * s.head_dim;
  for (size_t i = 0; i < before_last; ++i) EXPECT_EQ(out1[i], out2[i]) << i;
}

TEST(Attention, FloatTracksDouble) {
  const AttentionShape s{2, 9, 4, 2, 8};
  const size_t nq = s.batch * s.seq * s.heads * s.head_dim;
  const size_t nkv = s.batch * s.seq * s.kv_heads * s.head_dim;
  std::vector<double> q = RandomVector(nq, 4), k = RandomVector(nkv, 5), v = RandomVector(nkv, 6);
  std::vector<float> qf(q.begin(), q.end()), kf(k.begin(), k.end()), vf(v.begin(), v.end());
  std::vector<double> out(nq), probs(s.batch * s.heads * s.seq * s.seq);
  std::vector<float> outf(nq), probsf(probs.size());
  AttentionForward(s, q.data(), k.data(), v.data(), out.data(), probs.data());
  AttentionForward(s, qf.data(), kf.data(), vf.data(), outf.data(), probsf.data());
  // float32 has a 6e-8 unit roundoff; sums of ~10 O(1) terms stay well inside 1e-5.
  for (size_t i = 0; i < nq; ++i) EXPECT_NEAR(outf[i], out[i], 1e-5) << i;
}

TEST(CrossEntropy, GradientAndIgnoredTarget) {
  const int64_t n = 4;
  const int vocab = 11;
  const std::vector<int32_t> targets = {3, -1, 10, 0};
  std::vector<double> logits = RandomVector(n * vocab, 31, 2.0);
  const std::vector<double> w = {0.5, 1.0, -0.25, 2.0};
  std::vector<double> losses(n);
  auto loss = [&] {
    std::vector<double> tmp = logits;
    CrossEntropy(tmp.data(), targets.data(), n, vocab, 0.0, losses.data());
    return WeightedSum(losses, w);
  };
  loss();
  EXPECT_EQ(losses[1], 0.0);
  // The loss is -log softmax: check row 0 by hand.
  double z = 0;
  for (int j = 0; j < vocab; ++j) z += std::exp(logits[j]);
  EXPECT_NEAR(losses[0], std::log(z) - logits[3], 1e-12);
  // Gradient of sum_r w_r * loss_r: run the fused kernel once per row with grad_scale = w_r.
  std::vector<double> grad(n * vocab);
  for (int64_t r = 0; r < n; ++r) {
    std::vector<double> row(logits.begin() + r * vocab, logits.begin() + (r + 1) * vocab);
    double l;
    CrossEntropy(row.data(), &targets[r], 1, vocab, w[r], &l);
    std::copy(row.begin(), row.end(), grad.begin() + r * vocab);
  }
  ExpectGradientMatches(logits, loss, grad, "cross-entropy dlogits");
}

TEST(CrossEntropy, StableForHugeLogits) {
  std::vector<float> logits = {1e4f, -1e4f, 0.0f, 1e4f - 1.0f};
  const int32_t target = 3;
  float loss = 0;
  CrossEntropy(logits.data(), &target, 1, 4, 1.0f, &loss);
  EXPECT_NEAR(loss, std::log(1.0 + std::exp(-1.0)) + 1.0, 1e-5);
  for (float g : logits) EXPECT_TRUE(std::isfinite(g));
}

}  // namespace
}  // namespace dqt

namespace dqt {
namespace {
using namespace ::dqt::cpu;  // NOLINT: the reference math under test

TEST(CrossEntropy, FloatTracksDoubleOnWideRows) {
  const int64_t n = 3;
  const int vocab = 50257;
  std::vector<double> logits = testing::RandomVector(n * vocab, 41, 3.0);
  std::vector<float> logits_f(logits.begin(), logits.end());
  const std::vector<int32_t> targets = {0, 50256, 12345};
  std::vector<double> loss(n);
  std::vector<float> loss_f(n);
  CrossEntropy(logits.data(), targets.data(), n, vocab, 1.0, loss.data());
  CrossEntropy(logits_f.data(), targets.data(), n, vocab, 1.0f, loss_f.data());
  // The float path uses a polynomial exp (rel. error ~2e-7) and float sums over 50k terms
  // (~1e-6 relative): the loss agrees to 1e-5 and each gradient entry to 1e-7 absolute.
  for (int64_t r = 0; r < n; ++r) EXPECT_NEAR(loss_f[r], loss[r], 1e-5 * loss[r]) << r;
  for (size_t i = 0; i < logits.size(); ++i) {
    ASSERT_NEAR(logits_f[i], logits[i], 1e-7 + 1e-5 * std::fabs(logits[i])) << i;
  }
}

}  // namespace
}  // namespace dqt

namespace dqt {
namespace {

using testing::TwinTensor;

void FillNormal(TwinTensor& t, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  for (int64_t i = 0; i < t.numel(); ++i) t.SetFloat(i, dist(rng));
}

// The log-sum-exp of each row's scaled causal scores, (B, H, T), in double on the host.
std::vector<float> HostLse(const AttentionShape& s, const std::vector<float>& q,
                           const std::vector<float>& k) {
  const int64_t t_len = s.seq, hd = s.head_dim, h_n = s.heads, kv_n = s.kv_heads;
  const double scale = 1.0 / std::sqrt(static_cast<double>(hd));
  std::vector<float> lse(s.batch * h_n * t_len);
  std::vector<double> sc(t_len);
  for (int64_t b = 0; b < s.batch; ++b) {
    for (int64_t h = 0; h < h_n; ++h) {
      const int64_t kvh = h / (h_n / kv_n);
      for (int64_t i = 0; i < t_len; ++i) {
        double max = -INFINITY;
        for (int64_t j = 0; j <= i; ++j) {
          double dot = 0;
          for (int64_t d = 0; d < hd; ++d) {
            dot += double{q[((b * t_len + i) * h_n + h) * hd + d]} *
                   double{k[((b * t_len + j) * kv_n + kvh) * hd + d]};
          }
          sc[j] = dot * scale;
          max = std::max(max, sc[j]);
        }
        double sum = 0;
        for (int64_t j = 0; j <= i; ++j) sum += std::exp(sc[j] - max);
        lse[(b * h_n + h) * t_len + i] = static_cast<float>(max + std::log(sum));
      }
    }
  }
  return lse;
}

struct Tolerance {
  double rel;
  double abs;  // times the largest |entry| of the CPU result, and at least 1
};

// The abs part scales with the tensor's largest entry: in dS = P (dP - D) the rounding of dP and
// D is an absolute error of the size of the largest dot products, whatever the entry's own size.
// It is at least tol.abs because the N(0, 1) inputs make those terms O(1) even where a gradient
// vanishes (T = 1: dq = dk = 0 exactly, while each twin leaves ~1e-7 of rounding).
void ExpectTensorNear(const std::vector<float>& want, const std::vector<float>& got, Tolerance tol,
                      const std::string& what) {
  double max = 1.0;
  for (float w : want) max = std::max(max, static_cast<double>(std::fabs(w)));
  testing::ExpectAllNear(want, got, tol.rel, tol.abs * max, what);
}

struct CudaResults {
  std::vector<float> out, lse, dq, dk, dv;
};

// Forward and backward of the CUDA twin on q, k, v, dout (already on the device).
CudaResults RunCuda(const AttentionShape& s, TwinTensor& q, TwinTensor& k, TwinTensor& v,
                    TwinTensor& dout) {
  const DType dtype = q.dtype();
  TwinTensor out({s.batch, s.seq, s.heads, s.head_dim}, dtype);
  TwinTensor dq({s.batch, s.seq, s.heads, s.head_dim}, dtype);
  TwinTensor dk({s.batch, s.seq, s.kv_heads, s.head_dim}, dtype);
  TwinTensor dv({s.batch, s.seq, s.kv_heads, s.head_dim}, dtype);
  TwinTensor saved({AttentionSavedElements(Device::kCuda, s)}, DType::kF32);
  const ExecContext cuda = testing::CudaContext();
  ::dqt::AttentionForward(
      cuda, {q.DeviceRef(), k.DeviceRef(), v.DeviceRef(), out.DeviceRef(), saved.DeviceRef()});
  ::dqt::AttentionBackward(
      cuda, {q.DeviceRef(), k.DeviceRef(), v.DeviceRef(), out.DeviceRef(), saved.DeviceRef(),
             dout.DeviceRef(), dq.DeviceRef(), dk.DeviceRef(), dv.DeviceRef()});
  for (TwinTensor* t : {&out, &saved, &dq, &dk, &dv}) t->FromDevice();
  return {out.Floats(), saved.Floats(), dq.Floats(), dk.Floats(), dv.Floats()};
}

// Runs both twins on the same inputs (for bf16, the CPU twin computes in f32 on the bf16-rounded
// values the CUDA twin reads) and compares out, dq, dk, dv and the lse the CUDA forward saves.
void CheckTwins(const AttentionShape& s, DType dtype, Tolerance tol) {
  const std::string tag = std::string(" ") + DTypeName(dtype) + " B=" + std::to_string(s.batch) +
                          " T=" + std::to_string(s.seq) + " H=" + std::to_string(s.heads) +
                          " Hkv=" + std::to_string(s.kv_heads) +
                          " hd=" + std::to_string(s.head_dim);
  TwinTensor q({s.batch, s.seq, s.heads, s.head_dim}, dtype);
  TwinTensor k({s.batch, s.seq, s.kv_heads, s.head_dim}, dtype);
  TwinTensor v({s.batch, s.seq, s.kv_heads, s.head_dim}, dtype);
  TwinTensor dout({s.batch, s.seq, s.heads, s.head_dim}, dtype);
  uint32_t seed = 100;
  for (TwinTensor* t : {&q, &k, &v, &dout}) {
    FillNormal(*t, seed++);
    t->ToDevice();
  }
  const CudaResults got = RunCuda(s, q, k, v, dout);

  std::vector<float> hq = q.Floats(), hk = k.Floats(), hv = v.Floats(), hdout = dout.Floats();
  std::vector<float> out(hq.size()), dq(hq.size()), dk(hk.size()), dv(hk.size());
  std::vector<float> probs(AttentionSavedElements(Device::kCpu, s));
  auto qref = [&](std::vector<float>& x) {
    return RefOf(x.data(), Device::kCpu, {s.batch, s.seq, s.heads, s.head_dim});
  };
  auto kvref = [&](std::vector<float>& x) {
    return RefOf(x.data(), Device::kCpu, {s.batch, s.seq, s.kv_heads, s.head_dim});
  };
  const TensorRef saved = RefOf(probs.data(), Device::kCpu, {static_cast<int64_t>(probs.size())});
  const ExecContext cpu = testing::CpuContext();
  ::dqt::AttentionForward(cpu, {qref(hq), kvref(hk), kvref(hv), qref(out), saved});
  ::dqt::AttentionBackward(cpu, {qref(hq), kvref(hk), kvref(hv), qref(out), saved, qref(hdout),
                                 qref(dq), kvref(dk), kvref(dv)});

  ExpectTensorNear(out, got.out, tol, "out" + tag);
  ExpectTensorNear(dq, got.dq, tol, "dq" + tag);
  ExpectTensorNear(dk, got.dk, tol, "dk" + tag);
  ExpectTensorNear(dv, got.dv, tol, "dv" + tag);
  // The lse is f32 arithmetic on the very values the host reads (bf16 inputs included, and their
  // products are exact in f32): |lse| is a few units here, and f32 dot products over hd <= 128
  // terms plus exp2/log2 stay within a few 1e-7, so 1e-5 leaves a wide margin.
  testing::ExpectAllNear(HostLse(s, hq, hk), got.lse, 1e-5, 1e-5, "lse" + tag);
}

// Awkward shapes: one token, shorter than a warp, one or two rows past a 64-row tile; GQA ratios
// 1, 2 and 4; every supported head dim (128 streams 32-key tiles); many (batch, head) blocks.
const AttentionShape kTwinShapes[] = {
    {2, 1, 4, 4, 64}, {2, 7, 4, 2, 8},    {2, 65, 4, 1, 64}, {2, 130, 4, 2, 8}, {1, 130, 8, 2, 64},
    {2, 65, 2, 2, 8}, {1, 70, 4, 2, 128}, {1, 33, 2, 1, 16}, {2, 40, 2, 1, 32}, {3, 33, 16, 4, 16},
};

TEST(AttentionTwin, F32MatchesCpu) {
  DQT_REQUIRE_CUDA();
  // Both twins compute in f32 and differ only in summation order and exp vs exp2: dot products
  // over hd <= 128 terms and sums over up to T * (H / Hkv) = 520 terms keep each side within a
  // few 1e-6 of the largest term (a CPU emulation of the kernels against the f64 twin saw at most
  // 1e-6 of the largest entry), hence 1e-5 relative plus 2e-5 of the tensor's largest entry.
  for (const AttentionShape& s : kTwinShapes) CheckTwins(s, DType::kF32, {1e-5, 2e-5});
}

TEST(AttentionTwin, Bf16MatchesCpuOnRoundedInputs) {
  DQT_REQUIRE_CUDA();
  // Same inputs, f32 arithmetic on both sides, but the CUDA results are rounded to bf16 (8-bit
  // significand, unit roundoff 2^-8 = 3.9e-3 relative) and its backward takes D =
  // rowsum(dout * out) from the bf16 out, an error of ~2^-8 of |dout||out| that enters every dS
  // (~1e-3 of the largest gradient entry). 1e-2 relative plus 1e-2 of the largest entry leaves a
  // margin of 2.5 on the rounding alone and more on the sum (a CPU emulation of the kernels
  // against the f64 twin saw at most 3.7e-3 of the largest entry).
  for (const AttentionShape& s : kTwinShapes) CheckTwins(s, DType::kBF16, {1e-2, 1e-2});
}

TEST(AttentionTwin, BackwardIsDeterministic) {
  DQT_REQUIRE_CUDA();
  // dk and dv sum the group's query heads in a fixed order (no atomics): runs match bit for bit.
  const AttentionShape s{2, 130, 8, 2, 64};
  TwinTensor q({s.batch, s.seq, s.heads, s.head_dim});
  TwinTensor k({s.batch, s.seq, s.kv_heads, s.head_dim});
  TwinTensor v({s.batch, s.seq, s.kv_heads, s.head_dim});
  TwinTensor dout({s.batch, s.seq, s.heads, s.head_dim});
  uint32_t seed = 200;
  for (TwinTensor* t : {&q, &k, &v, &dout}) {
    FillNormal(*t, seed++);
    t->ToDevice();
  }
  const CudaResults first = RunCuda(s, q, k, v, dout);
  const CudaResults second = RunCuda(s, q, k, v, dout);
  testing::ExpectAllNear(first.dq, second.dq, 0, 0, "dq");
  testing::ExpectAllNear(first.dk, second.dk, 0, 0, "dk");
  testing::ExpectAllNear(first.dv, second.dv, 0, 0, "dv");
}

}  // namespace
}  // namespace dqt
