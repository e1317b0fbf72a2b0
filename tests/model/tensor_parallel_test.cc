// Tensor parallelism in one process (ranks are threads over FakeCommunicator): a TP=2 shard starts
// bit-identical to the same elements of the TP=1 model, the TP=2 forward/backward matches TP=1 up
// to float summation order, and the SR update of a shard (TP or DP slice) equals the unsharded
// update bit for bit on the same gradients.
#include <cmath>
#include <cstring>
#include <memory>
#include <random>
#include <vector>

#include "core/model/llama.h"
#include "core/optim/adamw.h"
#include "core/train/data_parallel.h"
#include "dist/fake_communicator.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/tiny_model.h"

namespace dqt {
namespace {

using testing::IsOk;

struct Mode {
  const char* name;
  OptimizerKind optimizer;
  QuantGrid grid;
  bool per_channel;
  ScaleInit scale_init;
  bool int8_activations;
};

LlamaConfig Config(const Mode& mode) {
  LlamaConfig c = testing::TinyModel({.vocab = 41});
  c.init_std = 0.1f;
  c.seed = 7;
  c.quant.optimizer = mode.optimizer;
  c.quant.grid = mode.grid;
  c.quant.per_channel_scale = mode.per_channel;
  c.quant.scale_init = mode.scale_init;
  c.quant.int8_activations = mode.int8_activations;
  return c;
}

const Mode kModes[] = {
    {"fp", OptimizerKind::kFp, QuantGrid::Integer(8), false, ScaleInit::kAbsMean, false},
    {"dqt8", OptimizerKind::kDqt, QuantGrid::Integer(8), false, ScaleInit::kAbsMean, true},
    {"ternary_per_channel", OptimizerKind::kDqt, QuantGrid::Ternary(), true, ScaleInit::kAbsMean,
     true},
    {"int4_absmax_per_channel", OptimizerKind::kDqt, QuantGrid::Integer(4), true,
     ScaleInit::kAbsMax, false},
};

class TensorParallelTest : public ::testing::TestWithParam<Mode> {};

// Element i of shard tensor `t` equals element GlobalIndex(t, i) of the whole model's tensor.
void ExpectShardOf(const LlamaParams& whole, const LlamaParams& shard) {
  for (const ParamTensor& t : shard.tensors()) {
    const ParamTensor& w = whole.tensors()[t.id];
    ASSERT_EQ(t.full_numel, w.numel) << t.name;
    for (int64_t i = 0; i < t.numel; ++i) {
      const uint64_t gi = GlobalIndex(t, i);
      if (t.storage == ParamStorage::kCodes) {
        ASSERT_EQ(shard.codes()[t.code_offset + i], whole.codes()[w.code_offset + gi])
            << t.name << " " << i;
      } else {
        ASSERT_EQ(std::memcmp(&shard.values()[t.value_offset + i],
                              &whole.values()[w.value_offset + gi], sizeof(float)),
                  0)
            << t.name << " " << i;
      }
    }
    for (int64_t r = 0; r < t.scale_count; ++r) {
      const int64_t whole_row = t.split == TpSplit::kRows ? t.shard_begin + r : r;
      ASSERT_EQ(shard.scale(t, r), whole.scale(w, whole_row)) << t.name << " row " << r;
    }
  }
}

TEST_P(TensorParallelTest, InitOfEachShardEqualsTheWholeModel) {
  const LlamaConfig c = Config(GetParam());
  LlamaParams whole(c);
  ASSERT_THAT(whole.Init(), IsOk());
  for (int rank = 0; rank < 2; ++rank) {
    LlamaParams shard(c, TpShard{2, rank});
    ASSERT_THAT(shard.Init(), IsOk());
    ExpectShardOf(whole, shard);
  }
  // The split is real: a column-parallel shard holds half the rows.
  LlamaParams shard(c, TpShard{2, 1});
  const ParamTensor& wq = shard.tensors()[2];
  EXPECT_EQ(wq.split, TpSplit::kRows);
  EXPECT_EQ(wq.numel * 2, wq.full_numel);
  EXPECT_EQ(wq.shard_begin, c.n_heads * c.head_dim() / 2);
}

// Gradients of whole-model tensors, as each rank computed them, gathered by global index.
struct TpRun {
  double loss = 0;
  std::vector<float> grads;                 // whole-model logical layout
  std::vector<std::vector<float>> replica;  // per rank: grads of the unsplit tensors
};

TpRun RunTp(const LlamaConfig& c, int tp, const std::vector<int32_t>& in,
            const std::vector<int32_t>& target, int batch, int seq) {
  LlamaParams layout(c);
  TpRun out;
  out.grads.assign(layout.numel(), 0.0f);
  out.replica.resize(tp);
  std::vector<double> losses(tp);
  auto world = FakeCommunicator::CreateWorld(tp);
  RunOnRankThreads(world, [&](FakeCommunicator& comm) {
    LlamaModel model(c, &comm);
    ASSERT_THAT(model.params().Init(), IsOk());
    model.params().grads().Zero();
    int64_t count = 0;
    losses[comm.rank()] =
        model.ForwardBackward(in.data(), target.data(), batch, seq, 1.0f / (batch * seq), &count);
    const LlamaParams& p = model.params();
    for (const ParamTensor& t : p.tensors()) {
      const int64_t whole_offset = layout.tensors()[t.id].offset;
      for (int64_t i = 0; i < t.numel; ++i) {
        const float g = p.grads()[t.offset + i];
        if (t.split == TpSplit::kNone) {
          out.replica[comm.rank()].push_back(g);
          if (comm.rank() != 0) continue;
        }
        out.grads[whole_offset + GlobalIndex(t, i)] = g;  // disjoint for split tensors
      }
    }
  });
  out.loss = losses[0];
  for (int r = 1; r < tp; ++r) EXPECT_EQ(losses[r], losses[0]) << "rank " << r;
  return out;
}

// TP=2 and TP=1 run the same math; the partial sums of o/down and of the input gradients are
// added in another order (fp32, ~1e-7 relative each), so results agree to ~1e-5 relative, not
// bitwise. A wrong head split, a missing all-reduce or a per-shard activation absmax is off by
// far more (the loss by > 1e-2, the gradients by O(1) relative).
TEST_P(TensorParallelTest, ForwardBackwardMatchesOneRank) {
  const LlamaConfig c = Config(GetParam());
  const int batch = 2, seq = 8;
  std::vector<int32_t> in(batch * seq), target(batch * seq);
  std::mt19937 rng(3);
  for (int32_t& t : in) t = static_cast<int32_t>(rng() % c.vocab_size);
  for (int32_t& t : target) t = static_cast<int32_t>(rng() % c.vocab_size);
  const TpRun one = RunTp(c, 1, in, target, batch, seq);
  const TpRun two = RunTp(c, 2, in, target, batch, seq);
  EXPECT_NEAR(two.loss, one.loss, 1e-5 * one.loss);
  double max_abs = 0;
  for (float g : one.grads) max_abs = std::max(max_abs, double(std::fabs(g)));
  ASSERT_GT(max_abs, 0);
  for (size_t i = 0; i < one.grads.size(); ++i) {
    ASSERT_NEAR(two.grads[i], one.grads[i], 2e-4 * max_abs) << "logical index " << i;
  }
  // The tensors TP does not split get the same gradient bits on both ranks.
  EXPECT_EQ(two.replica[0], two.replica[1]);
}

// A failed TP collective (a peer gone) is a Status from TakeCommStatus on every rank, not a crash;
// it is cleared once taken.
TEST(TensorParallel, CollectiveFailureIsAStatus) {
  const LlamaConfig c = Config(kModes[1]);
  std::vector<int32_t> tokens(8, 3);
  auto world = FakeCommunicator::CreateWorld(2);
  world[1]->InjectFailure(1);
  RunOnRankThreads(world, [&](FakeCommunicator& comm) {
    LlamaModel model(c, &comm);
    ASSERT_THAT(model.params().Init(), IsOk());
    EXPECT_THAT(model.TakeCommStatus(), IsOk());
    int64_t count = 0;
    model.ForwardBackward(tokens.data(), tokens.data(), 1, 8, 0.125f, &count);
    EXPECT_FALSE(model.TakeCommStatus().ok()) << "rank " << comm.rank();
    EXPECT_THAT(model.TakeCommStatus(), IsOk());
  });
}

INSTANTIATE_TEST_SUITE_P(Modes, TensorParallelTest, ::testing::ValuesIn(kModes),
                         [](const auto& info) { return std::string(info.param.name); });

// Gradient of global element gi of tensor `id`: the same whatever the layout.
float GradAt(uint32_t id, uint64_t gi) {
  const uint32_t h = static_cast<uint32_t>(gi * 2654435761u) ^ (id * 40503u);
  return (static_cast<float>(h % 2001) - 1000.0f) * 1e-3f;
}

void SetGrads(LlamaParams& p) {
  for (const ParamTensor& t : p.tensors()) {
    for (int64_t i = 0; i < t.numel; ++i) p.grads()[t.offset + i] = GradAt(t.id, GlobalIndex(t, i));
  }
}

struct UpdateCase {
  const char* name;
  Mode mode;
  MomentFormat moments;
  bool recompute_scale;
};

class ShardedUpdateTest : public ::testing::TestWithParam<UpdateCase> {};

LlamaConfig UpdateConfig(const UpdateCase& u) {
  LlamaConfig c = Config(u.mode);
  c.quant.moments = u.moments;
  c.quant.recompute_scale = u.recompute_scale;
  c.d_model = 64;  // tensors of several 256-element blocks, so DP slices are real slices
  c.ffn_dim = 96;
  return c;
}

AdamWConfig Hyper() {
  AdamWConfig a;
  a.grad_clip = 0;  // the clip factor comes from the global norm: tested separately
  return a;
}

// Three steps of the whole model on one rank: the reference.
LlamaParams UpdatedWhole(const LlamaConfig& c) {
  LlamaParams whole(c);
  EXPECT_THAT(whole.Init(), IsOk());
  AdamW opt(Hyper(), whole);
  for (int step = 0; step < 3; ++step) {
    SetGrads(whole);
    EXPECT_THAT(opt.Step(whole, step, 0.05f, 0.1f, 1.0).status(), IsOk());
  }
  return whole;
}

TEST_P(ShardedUpdateTest, TensorParallelShardsEqualTheUnshardedUpdate) {
  const LlamaConfig c = UpdateConfig(GetParam());
  const LlamaParams whole = UpdatedWhole(c);
  auto world = FakeCommunicator::CreateWorld(2);
  RunOnRankThreads(world, [&](FakeCommunicator& comm) {
    LlamaParams shard(c, TpShard{2, comm.rank()});
    ASSERT_THAT(shard.Init(), IsOk());
    AdamW opt(Hyper(), shard, WholeTensors(shard), &comm);
    for (int step = 0; step < 3; ++step) {
      SetGrads(shard);
      ASSERT_THAT(opt.Step(shard, step, 0.05f, 0.1f, 1.0).status(), IsOk());
    }
    ExpectShardOf(whole, shard);
  });
}

// DP ranks in lockstep: each updates only its slices, then every rank copies the others' slices
// (what the all-gather does), so recomputed scales see the whole updated tensor.
TEST_P(ShardedUpdateTest, DataParallelSlicesEqualTheUnshardedUpdate) {
  const LlamaConfig c = UpdateConfig(GetParam());
  const LlamaParams whole = UpdatedWhole(c);
  const int dp = 3;
  std::vector<std::unique_ptr<LlamaParams>> ranks;
  std::vector<std::unique_ptr<AdamW>> opts;
  for (int r = 0; r < dp; ++r) {
    ranks.push_back(std::make_unique<LlamaParams>(c));
    ASSERT_THAT(ranks.back()->Init(), IsOk());
    opts.push_back(
        std::make_unique<AdamW>(Hyper(), *ranks.back(), DpSlices(*ranks.back(), dp, r), nullptr));
  }
  for (int step = 0; step < 3; ++step) {
    for (int r = 0; r < dp; ++r) {
      SetGrads(*ranks[r]);
      ASSERT_THAT(opts[r]->Step(*ranks[r], step, 0.05f, 0.1f, 1.0).status(), IsOk());
    }
    for (int from = 0; from < dp; ++from) {
      for (const OwnedSlice& s : opts[from]->owned()) {
        const ParamTensor& t = ranks[from]->tensors()[s.tensor];
        for (int to = 0; to < dp; ++to) {
          for (int64_t i = s.begin; i < s.end; ++i) {
            if (t.storage == ParamStorage::kCodes) {
              ranks[to]->codes()[t.code_offset + i] = ranks[from]->codes()[t.code_offset + i];
            } else {
              ranks[to]->values()[t.value_offset + i] = ranks[from]->values()[t.value_offset + i];
            }
          }
        }
      }
    }
  }
  for (int r = 0; r < dp; ++r) ExpectShardOf(whole, *ranks[r]);
  // Slices are real: with 3 ranks, no rank owns all of the largest tensor.
  EXPECT_LT(opts[1]->owned().size(), whole.tensors().size());
}

const UpdateCase kUpdates[] = {
    {"dqt8_fp32", kModes[1], MomentFormat::kFp32, false},
    {"ternary_bf16_per_channel", kModes[2], MomentFormat::kBf16, false},
    {"int4_per_channel_recompute", kModes[3], MomentFormat::kFp32, true},
    {"dqt8_recompute", kModes[1], MomentFormat::kBf16, true},
    {"fp", kModes[0], MomentFormat::kFp32, false},
};

INSTANTIATE_TEST_SUITE_P(Cases, ShardedUpdateTest, ::testing::ValuesIn(kUpdates),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(DpSlices, CoverEveryElementOnceAtBlockBounds) {
  LlamaConfig c = Config(kModes[1]);
  c.d_model = 64;
  c.ffn_dim = 96;
  const LlamaParams p(c);
  for (int dp : {1, 2, 3, 4, 7}) {
    std::vector<int64_t> covered(p.tensors().size(), 0);
    for (int r = 0; r < dp; ++r) {
      for (const OwnedSlice& s : DpSlices(p, dp, r)) {
        EXPECT_EQ(s.begin % kMomentBlock, 0);
        EXPECT_EQ(s.begin, covered[s.tensor]) << "slices must tile in rank order";
        covered[s.tensor] = s.end;
      }
    }
    for (const ParamTensor& t : p.tensors()) EXPECT_EQ(covered[t.id], t.numel) << t.name;
  }
}

}  // namespace
}  // namespace dqt
