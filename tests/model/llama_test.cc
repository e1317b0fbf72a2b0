// The assembled LLaMA: gradients of every tensor against finite differences (float model, so
// loose but meaningful bounds), init purity, and loss sanity at init.
#include "core/model/llama.h"

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "core/base/memory_ledger.h"
#include "core/base/philox.h"
#include "gtest/gtest.h"
#include "tests/testing/tiny_model.h"

namespace dqt {
namespace {

LlamaConfig TinyConfig(bool subln) {
  LlamaConfig c = testing::TinyModel({.vocab = 37});
  c.subln = subln;
  c.init_std = 0.3f;  // large enough that every path carries gradient
  c.seed = 99;
  return c;
}

void RandomTokens(std::vector<int32_t>* v, int vocab, uint32_t seed) {
  std::mt19937 rng(seed);
  for (int32_t& t : *v) t = static_cast<int32_t>(rng() % vocab);
}

class LlamaGradientTest : public ::testing::TestWithParam<bool> {};

TEST_P(LlamaGradientTest, EveryTensorMatchesFiniteDifferences) {
  const LlamaConfig c = TinyConfig(GetParam());
  LlamaModel model(c);
  ASSERT_TRUE(model.params().Init().ok());
  const int batch = 2, seq = 7;
  std::vector<int32_t> inputs(batch * seq), targets(batch * seq);
  RandomTokens(&inputs, c.vocab_size, 1);
  RandomTokens(&targets, c.vocab_size, 2);
  targets[3] = -1;  // an ignored position
  int64_t count = 0;
  model.params().grads().Zero();
  model.ForwardBackward(inputs.data(), targets.data(), batch, seq, 1.0f, &count);
  EXPECT_EQ(count, batch * seq - 1);

  float* values = model.params().values().data();
  const float* grads = model.params().grads().data();
  std::mt19937 rng(3);
  // Central differences in float with h = 1e-2: roundoff ~ 50 * 6e-8 / 2e-2 = 1.5e-4 and
  // truncation O(h^2) ~ 1e-4 on this loss, so |analytic - numeric| <= 2e-3 + 3% holds for a
  // correct gradient while a wrong term (sign, missing path) is off by O(1).
  for (const ParamTensor& t : model.params().tensors()) {
    for (int trial = 0; trial < 4; ++trial) {
      const int64_t i = t.offset + static_cast<int64_t>(rng() % t.numel);
      const float saved = values[i];
      const float h = 1e-2f;
      values[i] = saved + h;
      const double plus = model.ForwardLoss(inputs.data(), targets.data(), batch, seq, &count);
      values[i] = saved - h;
      const double minus = model.ForwardLoss(inputs.data(), targets.data(), batch, seq, &count);
      values[i] = saved;
      const double numeric = (plus - minus) / (2 * h);
      EXPECT_NEAR(grads[i], numeric, 2e-3 + 0.03 * std::fabs(numeric))
          << t.name << " element " << (i - t.offset);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(SubLn, LlamaGradientTest, ::testing::Bool());

TEST(LlamaParams, InitIsAPureFunctionOfSeedIdAndIndex) {
  const LlamaConfig c = TinyConfig(false);
  LlamaParams a(c), b(c);
  ASSERT_TRUE(a.Init().ok());
  ASSERT_TRUE(b.Init().ok());
  ASSERT_EQ(0, std::memcmp(a.values().data(), b.values().data(), a.values().bytes()));
  for (const ParamTensor& t : a.tensors()) {
    const float* v = a.values().data() + t.offset;
    if (t.kind == ParamKind::kNorm) {
      EXPECT_EQ(v[0], 1.0f) << t.name;
      continue;
    }
    const int64_t i = t.numel - 1;
    EXPECT_EQ(v[i], c.init_std * NormalAt(MakeRngKey(c.seed, t.id), RngPurpose::kInit, 0, i))
        << t.name;
  }
  LlamaConfig other = c;
  other.seed = 100;
  LlamaParams d(other);
  ASSERT_TRUE(d.Init().ok());
  EXPECT_NE(0, std::memcmp(a.values().data(), d.values().data(), a.values().bytes()));
}

TEST(LlamaModel, InitialLossIsNearUniform) {
  LlamaConfig c = TinyConfig(false);
  c.init_std = 0.02f;
  LlamaModel model(c);
  ASSERT_TRUE(model.params().Init().ok());
  std::vector<int32_t> inputs(3 * 8), targets(3 * 8);
  RandomTokens(&inputs, c.vocab_size, 5);
  RandomTokens(&targets, c.vocab_size, 6);
  int64_t count = 0;
  const double loss = model.ForwardLoss(inputs.data(), targets.data(), 3, 8, &count) / count;
  EXPECT_NEAR(loss, std::log(37.0), 0.05);
}

}  // namespace
}  // namespace dqt

namespace dqt {
namespace {

// Per-block recomputation: the same gradients bit for bit, with less activation memory (ledger).
TEST(LlamaRecompute, SameGradientsLessMemory) {
  LlamaConfig c = testing::TinyModel({.vocab = 37, .layers = 4});
  c.init_std = 0.3f;
  c.subln = true;
  c.quant.optimizer = OptimizerKind::kDqt;
  c.quant.grid = QuantGrid::Integer(8);
  c.quant.int8_activations = true;
  const int batch = 2, seq = 7;
  std::vector<int32_t> inputs(batch * seq), targets(batch * seq);
  RandomTokens(&inputs, c.vocab_size, 1);
  RandomTokens(&targets, c.vocab_size, 2);
  std::vector<float> grads[2];
  double loss[2];
  int64_t activation_bytes[2];
  for (int r = 0; r < 2; ++r) {
    const int64_t before = ReadMemoryLedger().Current(MemoryKind::kActivations);
    LlamaModel model(c, nullptr, ExecContext::Cpu(), DType::kF32,
                     r == 0 ? Recompute::kNo : Recompute::kPerBlock);
    ASSERT_TRUE(model.params().Init().ok());
    int64_t count = 0;
    model.params().grads().Zero();
    loss[r] = model.ForwardBackward(inputs.data(), targets.data(), batch, seq, 1.0f, &count);
    activation_bytes[r] = ReadMemoryLedger().Current(MemoryKind::kActivations) - before;
    const Buffer<float>& g = model.params().grads();
    grads[r].assign(g.data(), g.data() + g.size());
  }
  EXPECT_EQ(loss[0], loss[1]);
  ASSERT_EQ(grads[0].size(), grads[1].size());
  EXPECT_EQ(std::memcmp(grads[0].data(), grads[1].data(), grads[0].size() * sizeof(float)), 0);
  // Four blocks' activations against one block's plus the block inputs.
  EXPECT_LT(activation_bytes[1], activation_bytes[0] * 2 / 3)
      << activation_bytes[1] << " vs " << activation_bytes[0] << " bytes";
}

}  // namespace
}  // namespace dqt

namespace dqt {
namespace {

// The gradient sink of the fused update: every tensor's gradient arrives exactly once, equal bit
// for bit to the plain backward's, from one scratch slot instead of a full gradient buffer.
TEST(LlamaGradientSink, SameGradientsFromOneSlot) {
  LlamaConfig c = testing::TinyModel({.vocab = 37, .layers = 3});
  c.init_std = 0.3f;
  c.subln = true;
  c.quant.optimizer = OptimizerKind::kDqt;
  c.quant.grid = QuantGrid::Ternary();
  c.quant.policy = QuantPolicy::kAll;
  const int batch = 2, seq = 7;
  std::vector<int32_t> inputs(batch * seq), targets(batch * seq);
  RandomTokens(&inputs, c.vocab_size, 1);
  RandomTokens(&targets, c.vocab_size, 2);

  const int64_t before_plain = ReadMemoryLedger().Current(MemoryKind::kGradients);
  LlamaModel plain(c);
  const int64_t plain_bytes = ReadMemoryLedger().Current(MemoryKind::kGradients) - before_plain;
  ASSERT_TRUE(plain.params().Init().ok());
  int64_t count = 0;
  plain.params().grads().Zero();
  plain.ForwardBackward(inputs.data(), targets.data(), batch, seq, 1.0f, &count);

  const int64_t before_fused = ReadMemoryLedger().Current(MemoryKind::kGradients);
  LlamaModel fused(c, nullptr, ExecContext::Cpu(), DType::kF32, Recompute::kNo,
                   GradientStorage::kNone);
  const int64_t fused_bytes = ReadMemoryLedger().Current(MemoryKind::kGradients) - before_fused;
  ASSERT_TRUE(fused.params().Init().ok());
  std::vector<int> seen(fused.params().tensors().size(), 0);
  fused.SetGradientSink([&](const ParamTensor& t, const TensorRef& g) {
    ++seen[t.id];
    ASSERT_EQ(g.numel(), t.numel);
    EXPECT_EQ(std::memcmp(g.data, plain.params().grads().data() + t.offset, t.numel * 4), 0)
        << t.name;
  });
  fused.ForwardBackward(inputs.data(), targets.data(), batch, seq, 1.0f, &count);
  for (const ParamTensor& t : fused.params().tensors()) EXPECT_EQ(seen[t.id], 1) << t.name;
  EXPECT_EQ(fused_bytes, (fused.params().max_tensor_numel() * 4 + 63) / 64 * 64);
  EXPECT_EQ(plain_bytes, plain.params().numel() * 4);
  EXPECT_LT(fused_bytes * 3, plain_bytes);
}

}  // namespace
}  // namespace dqt
