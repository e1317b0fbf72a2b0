// AdamW: one step against the formula, decoupled decay only on matrices, clipping by norm.
#include "core/optim/adamw.h"

#include <cmath>

#include "gtest/gtest.h"

namespace dqt {
namespace {

LlamaConfig Tiny() {
  LlamaConfig c;
  c.vocab_size = 11;
  c.d_model = 8;
  c.n_layers = 1;
  c.n_heads = 2;
  c.n_kv_heads = 1;
  c.ffn_dim = 12;
  c.context = 4;
  return c;
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
  opt.Step(params, 0, lr, wd, AdamW::GradNorm(params));
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
  opt.Step(params, 0, 1e-3f, 0.0f, norm);
  EXPECT_NEAR(opt.m()[0], 1.0 / norm, 1e-7);
}

}  // namespace
}  // namespace dqt
