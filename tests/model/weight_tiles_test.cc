// Tensors of codes larger than LlamaModel::kWeightTileElements (the embedding and LM head under
// policy ALL with a large vocabulary) are dequantized by tiles: the GEMM-weight scratch stays
// within the budget whatever the vocabulary, every tile holds exactly the whole dequantization's
// values, and loss, gradients and logits equal those of a model that multiplies the whole
// dequantized tensors up to the GEMM's rounding (OpenBLAS picks its kernels and blocking by a
// product's width, so a narrower product may round differently in the last bits; each element
// still sums its whole reduction).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "core/base/memory_ledger.h"
#include "core/model/llama.h"
#include "gtest/gtest.h"
#include "tests/testing/tiny_model.h"

namespace dqt {
namespace {

// d_model 16: a vocabulary over 2^18 puts embedding and head over the budget (2 forward tiles
// of rows, 2 backward tiles of columns, each with a shorter tail).
constexpr int kVocab = 300000;

LlamaConfig AllCodes(int vocab, bool per_channel) {
  LlamaConfig c = testing::TinyModel({.vocab = vocab});
  c.init_std = 0.3f;
  c.seed = 7;
  c.quant.optimizer = OptimizerKind::kDqt;
  c.quant.grid = QuantGrid::Integer(8);
  c.quant.policy = QuantPolicy::kAll;
  c.quant.per_channel_scale = per_channel;
  return c;
}

int64_t WorkspaceOfModel(const LlamaConfig& c) {
  const int64_t before = ReadMemoryLedger().Current(MemoryKind::kWorkspace);
  const LlamaModel model(c);
  EXPECT_LE(model.weight_scratch_bytes(), LlamaModel::kWeightTileElements * 4);
  return ReadMemoryLedger().Current(MemoryKind::kWorkspace) - before;
}

TEST(LlamaWeightTiles, ScratchIsBoundedAndIndependentOfVocab) {
  const LlamaConfig c = AllCodes(kVocab, false);
  ASSERT_GT(static_cast<int64_t>(kVocab) * c.d_model, LlamaModel::kWeightTileElements);
  const int64_t small = WorkspaceOfModel(c);
  const int64_t large = WorkspaceOfModel(AllCodes(kVocab + 100000, false));
  EXPECT_EQ(small, large);
  // Whole-tensor scratch would be kVocab * d_model * 4 bytes (19.2 MB here).
  EXPECT_LE(small, LlamaModel::kWeightTileElements * 4 + (int64_t{1} << 16));
}

class LlamaWeightTilesValues : public ::testing::TestWithParam<bool> {};

TEST_P(LlamaWeightTilesValues, SameLossAndGradientsAsTheWholeTensors) {
  const LlamaConfig c = AllCodes(kVocab, GetParam());
  LlamaModel tiled(c);
  ASSERT_TRUE(tiled.params().Init().ok());
  const std::vector<const ParamTensor*> big = {&tiled.params().tensors().front(),
                                               &tiled.params().tensors().back()};
  for (const ParamTensor* t : big) {
    ASSERT_EQ(t->storage, ParamStorage::kCodes) << t->name;
    ASSERT_GT(t->numel, LlamaModel::kWeightTileElements) << t->name;
  }
  // The reference: fp32 storage holding the dequantized weights, used as they are (no scratch,
  // one GEMM per tensor).
  LlamaConfig fc = c;
  fc.quant.optimizer = OptimizerKind::kFp;
  LlamaModel whole(fc);
  std::vector<float> logical(static_cast<size_t>(tiled.params().numel()));
  tiled.params().LogicalValues(logical.data());
  whole.params().SetLogicalValues(logical.data());
  EXPECT_EQ(whole.weight_scratch_bytes(), 0);

  const int batch = 2, seq = 7;
  std::vector<int32_t> inputs(batch * seq), targets(batch * seq);
  std::mt19937 rng(5);
  for (int32_t& v : inputs) v = static_cast<int32_t>(rng() % kVocab);
  for (int32_t& v : targets) v = static_cast<int32_t>(rng() % kVocab);
  double loss[2];
  int64_t count = 0;
  LlamaModel* models[2] = {&tiled, &whole};
  for (int m = 0; m < 2; ++m) {
    models[m]->params().grads().Zero();
    loss[m] = models[m]->ForwardBackward(inputs.data(), targets.data(), batch, seq, 1.0f, &count);
  }
  EXPECT_NEAR(loss[0], loss[1], 1e-6 * std::fabs(loss[1]));
  // Each tensor's gradient within 1e-4 of its largest element (a wrong tile, offset or scale
  // is off by O(1) of it).
  for (const ParamTensor& t : tiled.params().tensors()) {
    const float* g = tiled.params().grads().data() + t.offset;
    const float* want = whole.params().grads().data() + t.offset;
    float top = 0, worst = 0;
    for (int64_t i = 0; i < t.numel; ++i) {
      top = std::max(top, std::fabs(want[i]));
      worst = std::max(worst, std::fabs(g[i] - want[i]));
    }
    EXPECT_GT(top, 0.0f) << t.name;
    EXPECT_LE(worst, 1e-4f * top) << t.name;
  }
  // Inference through the tiled head: the last position's logits.
  std::vector<float> last[2] = {std::vector<float>(kVocab), std::vector<float>(kVocab)};
  for (int m = 0; m < 2; ++m) models[m]->LastLogits(inputs.data(), seq, last[m].data());
  for (int64_t i = 0; i < kVocab; ++i) ASSERT_NEAR(last[0][i], last[1][i], 1e-5f) << i;
}

// A tile (rows, or columns of every row) holds exactly the whole dequantization's values.
TEST_P(LlamaWeightTilesValues, TilesHoldTheWholeTensorsValues) {
  LlamaConfig c = AllCodes(37, GetParam());
  LlamaParams params(c);
  ASSERT_TRUE(params.Init().ok());
  const ParamTensor& head = params.tensors().back();
  const int64_t out = head.shape[0], in = head.shape[1];
  std::vector<float> whole(head.numel), tile(head.numel);
  params.Weights(head, RefOf(whole.data(), Device::kCpu, {head.numel}));
  const TensorRef scratch = RefOf(tile.data(), Device::kCpu, {head.numel});
  const TensorRef rows = params.WeightsTile(head, scratch, 5, 9, 0, in);
  ASSERT_EQ(rows.dim(0), 9);
  EXPECT_EQ(std::memcmp(tile.data(), whole.data() + 5 * in, 9 * in * sizeof(float)), 0);
  const int64_t c0 = 3, cols = 7;
  const TensorRef block = params.WeightsTile(head, scratch, 0, out, c0, cols);
  ASSERT_EQ(block.dim(1), cols);
  for (int64_t r = 0; r < out; ++r) {
    EXPECT_EQ(std::memcmp(tile.data() + r * cols, whole.data() + r * in + c0, cols * 4), 0) << r;
  }
}

INSTANTIATE_TEST_SUITE_P(PerChannelScale, LlamaWeightTilesValues, ::testing::Bool());

}  // namespace
}  // namespace dqt
