// The memory ledger behind every bytes-per-parameter claim: each storage kind (fp32 values, int8
// codes, scales, fp32 / bf16 / block-8 moments, gradients) adds to its MemoryKind exactly the
// bytes computed here from the shapes (each Buffer rounded up to 64 bytes), and gives them back.
// Ternary codes are held one per int8 byte in memory (packed 2 bits only on disk and on the wire).
#include "core/base/memory_ledger.h"

#include <cstdint>
#include <vector>

#include "core/base/buffer.h"
#include "core/model/llama_params.h"
#include "gtest/gtest.h"
#include "kernels/moments.h"
#include "tests/testing/tiny_model.h"

namespace dqt {
namespace {

int64_t Now(MemoryKind kind) { return ReadMemoryLedger(Device::kCpu).Current(kind); }
int64_t Round64(int64_t bytes) { return (bytes + 63) / 64 * 64; }

TEST(MemoryLedger, BufferAddsItsRoundedBytesAndGivesThemBack) {
  for (const int64_t n : {1, 15, 16, 17, 1000}) {
    const int64_t before = Now(MemoryKind::kOther);
    {
      Buffer<float> f(n);
      EXPECT_EQ(Now(MemoryKind::kOther) - before, Round64(4 * n)) << n;
      Buffer<uint16_t> h(n);
      Buffer<int8_t> c(n);
      EXPECT_EQ(Now(MemoryKind::kOther) - before, Round64(4 * n) + Round64(2 * n) + Round64(n));
      EXPECT_GE(ReadMemoryLedger().Peak(MemoryKind::kOther) - before,
                Now(MemoryKind::kOther) - before);
    }
    EXPECT_EQ(Now(MemoryKind::kOther), before) << n;
  }
}

// m and v of n elements in each moment format.
TEST(MemoryLedger, MomentStoresOfEveryFormat) {
  for (const int64_t n : {1, 255, 256, 257, 3000}) {
    const int64_t blocks = (n + 255) / 256;
    // Ledger bytes (four buffers for block-8: int8 m, uint8 v, one fp32 absmax of m and max of v
    // per 256-element block) and MomentStore::bytes() (the same without the 64-byte rounding).
    const struct {
      MomentFormat format;
      int64_t ledger, bytes;
    } cases[] = {
        {MomentFormat::kFp32, 2 * Round64(4 * n), 8 * n},
        {MomentFormat::kBf16, 2 * Round64(2 * n), 4 * n},
        {MomentFormat::kBlock8, 2 * Round64(n) + 2 * Round64(4 * blocks), 2 * n + 8 * blocks}};
    for (const auto& c : cases) {
      const int64_t before = Now(MemoryKind::kOptimizer);
      {
        MomentStore store(c.format, n, 0);
        EXPECT_EQ(Now(MemoryKind::kOptimizer) - before, c.ledger)
            << "format " << static_cast<int>(c.format) << " n " << n;
        EXPECT_EQ(store.bytes(), c.bytes);
      }
      EXPECT_EQ(Now(MemoryKind::kOptimizer), before);
    }
  }
}

// Shapes of the tiny model's tensors in storage order, from its config: (rows, cols), a norm gain
// is (1, d).
struct Shape {
  int64_t rows, cols;
  bool norm, linear;
};
std::vector<Shape> TensorShapes(const LlamaConfig& c) {
  const int64_t d = c.d_model, q = int64_t{c.n_heads} * (d / c.n_heads);
  const int64_t kv = int64_t{c.n_kv_heads} * (d / c.n_heads), f = c.ffn_dim, v = c.vocab_size;
  const Shape gain = {1, d, true, false};
  std::vector<Shape> s = {{v, d, false, false}};
  for (int l = 0; l < c.n_layers; ++l) {
    s.insert(s.end(), {gain,
                       {q, d, false, true},
                       {kv, d, false, true},
                       {kv, d, false, true},
                       {d, q, false, true},
                       gain,
                       {f, d, false, true},
                       {f, d, false, true},
                       {d, f, false, true}});
  }
  s.insert(s.end(), {gain, {v, d, false, false}});
  return s;
}

struct ParamsCase {
  const char* name;
  OptimizerKind optimizer;
  QuantGrid grid;
  QuantPolicy policy;
  bool per_channel;
};

class LedgerParams : public ::testing::TestWithParam<ParamsCase> {};

// Weights: fp32 values and int8 codes, each tensor starting on a 64-element boundary of its
// buffer, plus one fp32 scale per tensor (per output row with per-channel scales); gradients: one
// fp32 per element of the padded logical layout.
TEST_P(LedgerParams, WeightsAndGradientsMatchTheShapes) {
  const ParamsCase& pc = GetParam();
  LlamaConfig c = testing::TinyModel({.vocab = 37, .d_model = 16, .layers = 2, .ffn = 40});
  c.quant.optimizer = pc.optimizer;
  c.quant.grid = pc.grid;
  c.quant.policy = pc.policy;
  c.quant.per_channel_scale = pc.per_channel;
  const bool dqt = pc.optimizer == OptimizerKind::kDqt;
  int64_t value_elems = 0, code_bytes = 0, scales = 0, logical = 0;
  auto pad = [](int64_t x) { return (x + 63) / 64 * 64; };
  for (const Shape& s : TensorShapes(c)) {
    const bool codes = dqt && (s.linear || pc.policy == QuantPolicy::kAll);
    const int64_t numel = s.rows * s.cols;
    (codes ? code_bytes : value_elems) += pad(numel);
    scales += codes && pc.per_channel && !s.norm ? s.rows : 1;  // one per output row
    logical += pad(numel);
  }
  const int64_t weights0 = Now(MemoryKind::kWeights), grads0 = Now(MemoryKind::kGradients);
  {
    LlamaParams params(c);
    ASSERT_TRUE(params.Init().ok());
    EXPECT_EQ(Now(MemoryKind::kWeights) - weights0,
              Round64(4 * value_elems) + Round64(code_bytes) + Round64(4 * scales))
        << pc.name;
    EXPECT_EQ(Now(MemoryKind::kGradients) - grads0, Round64(4 * logical)) << pc.name;
  }
  EXPECT_EQ(Now(MemoryKind::kWeights), weights0);
  EXPECT_EQ(Now(MemoryKind::kGradients), grads0);
}

INSTANTIATE_TEST_SUITE_P(
    Kinds, LedgerParams,
    ::testing::Values(ParamsCase{"fp32", OptimizerKind::kFp, QuantGrid::Integer(8),
                                 QuantPolicy::kLinearOnly, false},
                      ParamsCase{"bitnet_latents", OptimizerKind::kBitNet, QuantGrid::Ternary(),
                                 QuantPolicy::kLinearOnly, false},
                      ParamsCase{"int8_codes", OptimizerKind::kDqt, QuantGrid::Integer(8),
                                 QuantPolicy::kLinearOnly, false},
                      ParamsCase{"ternary_codes_all", OptimizerKind::kDqt, QuantGrid::Ternary(),
                                 QuantPolicy::kAll, false},
                      ParamsCase{"int4_per_channel", OptimizerKind::kDqt, QuantGrid::Integer(4),
                                 QuantPolicy::kLinearOnly, true}),
    [](const ::testing::TestParamInfo<ParamsCase>& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace dqt
