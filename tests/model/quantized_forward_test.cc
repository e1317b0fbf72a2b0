// The quantized forwards of DQT code tensors (quant.forward_gemm) through the whole model on the
// CPU twins: INT8 (int8 activation codes x int8 weight codes, exact int32 products) and FP8
// (e4m3 x e4m3) against the float forward of the same model.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include "core/model/llama.h"
#include "gtest/gtest.h"
#include "tests/testing/tiny_model.h"

namespace dqt {
namespace {

LlamaConfig TinyDqt(QuantGrid grid, QuantGemm gemm) {
  LlamaConfig c = testing::TinyModel({.vocab = 61, .d_model = 32, .ffn = 48, .context = 16});
  c.init_std = 0.1f;
  c.seed = 7;
  c.quant.optimizer = OptimizerKind::kDqt;
  c.quant.grid = grid;
  c.quant.policy = QuantPolicy::kAll;  // the head's product goes through the same path
  c.quant.int8_activations = true;
  c.quant.forward_gemm = gemm;
  return c;
}

struct ModelRun {
  double loss;
  std::vector<float> grads;
};

ModelRun ForwardBackward(const LlamaConfig& c) {
  LlamaModel model(c);
  EXPECT_TRUE(model.params().Init().ok());
  const int batch = 3, seq = 13;
  std::vector<int32_t> inputs(batch * seq), targets(batch * seq);
  std::mt19937 rng(5);
  for (int32_t& t : inputs) t = static_cast<int32_t>(rng() % c.vocab_size);
  for (int32_t& t : targets) t = static_cast<int32_t>(rng() % c.vocab_size);
  int64_t count = 0;
  model.params().grads().Zero();
  const double sum = model.ForwardBackward(inputs.data(), targets.data(), batch, seq, 1.0f, &count);
  const Buffer<float>& g = model.params().grads();
  return {sum / count, std::vector<float>(g.data(), g.data() + g.size())};
}

double MaxRelGradDiff(const ModelRun& a, const ModelRun& b) {
  double num = 0, den = 0;
  for (size_t i = 0; i < a.grads.size(); ++i) {
    num = std::max(num, double(std::fabs(a.grads[i] - b.grads[i])));
    den = std::max(den, double(std::fabs(a.grads[i])));
  }
  return num / den;
}

// INT8: re-quantizing the fake-quantized activations recovers their int8 codes exactly (|code| <=
// 127 sits at the row absmax), so the products differ from the float path only by fp32
// rounding of the float GEMM (~1e-7 relative per dot product): the loss agrees to 1e-5 and the
// gradients to 1e-4 of their largest entry. The two must not be bit-identical either: that would
// mean the INT8 path was not taken (its exact int32 products round differently from BLAS).
TEST(QuantizedForward, Int8MatchesFloatForwardToRounding) {
  const ModelRun f = ForwardBackward(TinyDqt(QuantGrid::Integer(8), QuantGemm::kFloat));
  const ModelRun q = ForwardBackward(TinyDqt(QuantGrid::Integer(8), QuantGemm::kInt8));
  std::printf("int8 forward: loss %.9f vs float %.9f; max grad diff %.3g of the largest\n", q.loss,
              f.loss, MaxRelGradDiff(f, q));
  EXPECT_NEAR(q.loss, f.loss, 1e-5 * f.loss);
  EXPECT_LT(MaxRelGradDiff(f, q), 1e-4);
  EXPECT_NE(std::memcmp(f.grads.data(), q.grads.data(), f.grads.size() * sizeof(float)), 0)
      << "INT8 forward gave the float path's exact bits: was it used?";
}

// FP8: ternary weight codes are exact in e4m3, but the activations are re-quantized per token to
// e4m3 (3 mantissa bits: up to 2^-4 = 6% relative error per element), so this is a different,
// coarser function: the loss stays within 2% of the float forward's (measured 0.03%), far from
// the ~5% a wrong scale or layout moves it, and the gradients keep their direction.
TEST(QuantizedForward, Fp8TernaryStaysCloseToFloatForward) {
  const ModelRun f = ForwardBackward(TinyDqt(QuantGrid::Ternary(), QuantGemm::kFloat));
  const ModelRun q = ForwardBackward(TinyDqt(QuantGrid::Ternary(), QuantGemm::kFp8));
  EXPECT_NEAR(q.loss, f.loss, 0.02 * f.loss);
  double dot = 0, nf = 0, nq = 0;
  for (size_t i = 0; i < f.grads.size(); ++i) {
    dot += double(f.grads[i]) * q.grads[i];
    nf += double(f.grads[i]) * f.grads[i];
    nq += double(q.grads[i]) * q.grads[i];
  }
  std::printf("fp8 forward: loss %.6f vs float %.6f; gradient cosine %.4f\n", q.loss, f.loss,
              dot / std::sqrt(nf * nq));
  EXPECT_GT(dot / std::sqrt(nf * nq), 0.9) << "gradient cosine";
}

}  // namespace
}  // namespace dqt
