// AdamW: one step against the formula, decoupled decay only on matrices, clipping by norm.
#include <cmath>

#include "core/optim/adamw.h"
#include "gtest/gtest.h"
#include "tests/testing/tiny_model.h"

namespace dqt {
namespace {

LlamaConfig Tiny() {
  return testing::TinyModel(
      {.vocab = 11, .d_model = 8, .layers = 1, .heads = 2, .kv_heads = 1, .ffn = 12, .context = 4});
}

TEST(AdamW, FirstStepMatchesFormula) {
  LlamaParams params(Tiny());
  ASSERT_TRUE(params.Init().ok());
  for (int64_t i = 0; i < params.numel(); ++i) params.grads()[i] = 0.01f * ((i % 7) - 3);
  std::vector<float> before(params.values().data(), params.values().data() + params.numel());
  AdamWConfig cfg;
  cfg.grad_clip = 0;  // no clipping in this test
  AdamW opt(cfg, params);
  const float lr = 1e-2f, wd = 0.1f;
  ASSERT_TRUE(opt.Step(params, 0, lr, wd, AdamW::GradNorm(params)).ok());
  for (const ParamTensor& t : params.tensors()) {
    const float decay = t.kind == ParamKind::kNorm ? 0.0f : wd;
    for (int64_t j = 0; j < t.numel; ++j) {
      const int64_t i = t.offset + j;
      const float g = params.grads()[i];
      // Step 1: m_hat = g, v_hat = g^2, so the update is lr * (g / (|g| + eps) + wd * w).
      const float expected = before[i] - lr * (g / (std::fabs(g) + cfg.eps) + decay * before[i]);
      ASSERT_NEAR(params.values()[i], expected, 1e-6f) << t.name << " " << j;
    }
  }
}

TEST(AdamW, ClippingScalesGradientsToTheBound) {
  LlamaParams params(Tiny());
  ASSERT_TRUE(params.Init().ok());
  for (int64_t i = 0; i < params.numel(); ++i) params.grads()[i] = 1.0f;
  const double norm = AdamW::GradNorm(params);
  double expect = 0;
  for (const ParamTensor& t : params.tensors()) expect += t.numel;
  EXPECT_NEAR(norm, std::sqrt(expect), 1e-6);
  AdamWConfig cfg;
  cfg.grad_clip = 1.0f;
  cfg.beta1 = 0.0f;  // m = clipped g, so the clip factor is visible in m
  AdamW opt(cfg, params);
  ASSERT_TRUE(opt.Step(params, 0, 1e-3f, 0.0f, norm).ok());
  EXPECT_NEAR(static_cast<const float*>(opt.moments(0).ConstView().m)[0], 1.0 / norm, 1e-7);
}

}  // namespace
}  // namespace dqt

namespace dqt {
namespace {

TEST(AdamW, RecomputedScaleFollowsTheLargestWeight) {
  LlamaConfig c = Tiny();
  c.quant.optimizer = OptimizerKind::kDqt;
  c.quant.grid = QuantGrid::Integer(4);
  c.quant.recompute_scale = true;
  LlamaParams params(c);
  ASSERT_TRUE(params.Init().ok());
  const ParamTensor& t = params.tensors()[2];  // layer 0 q_proj
  ASSERT_EQ(t.storage, ParamStorage::kCodes);
  int8_t* codes = params.codes().data() + t.code_offset;
  for (int64_t i = 0; i < t.numel; ++i) codes[i] = std::min<int8_t>(codes[i], 3);
  codes[0] = 3;  // the largest weight is now 3 / s: the top levels 4..7 are empty
  params.grads().Zero();
  const float old_scale = params.scale(t);
  AdamWConfig cfg;
  cfg.weight_decay = 0;
  AdamW opt(cfg, params);
  // lr so small the AdamW step moves nothing: only the rescaling acts.
  ASSERT_TRUE(opt.Step(params, 0, 1e-12f, 0.0f, 0.0).ok());
  const float expected = static_cast<float>(7.0 * old_scale / 3.0);
  EXPECT_FLOAT_EQ(params.scale(t), expected);
  // Codes are re-expressed on the new grid: y = (c / s_old) * s_new = 7c/3, rounded
  // stochastically, so the former maximum 3 now sits at (or within one level of) the top.
  EXPECT_GE(codes[0], 6);  // y = 3 / s_old * s_new = 7 up to float rounding
  for (int64_t i = 0; i < t.numel; ++i) ASSERT_LE(codes[i], 7);
}

TEST(AdamW, RecomputedScaleWithoutPositiveWeightIsAnError) {
  LlamaConfig c = Tiny();
  c.quant.optimizer = OptimizerKind::kDqt;
  c.quant.grid = QuantGrid::Ternary();
  c.quant.recompute_scale = true;
  LlamaParams params(c);
  ASSERT_TRUE(params.Init().ok());
  const ParamTensor& t = params.tensors()[2];
  int8_t* codes = params.codes().data() + t.code_offset;
  for (int64_t i = 0; i < t.numel; ++i) codes[i] = std::min<int8_t>(codes[i], 0);
  params.grads().Zero();
  AdamW opt(AdamWConfig{}, params);
  const absl::StatusOr<HealthByLayerType> r = opt.Step(params, 0, 1e-3f, 0.0f, 0.0);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(std::string(r.status().message()).find("q_proj"), std::string::npos);
}

}  // namespace
}  // namespace dqt
