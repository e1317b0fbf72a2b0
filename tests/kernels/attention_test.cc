// Finite-difference checks of causal GQA attention and the fused cross-entropy, plus the float
// instantiation against the double one.
#include "kernels/cpu/attention.h"

#include <cmath>
#include <vector>

#include "kernels/cpu/cross_entropy.h"
#include "tests/kernels/gradcheck.h"

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
