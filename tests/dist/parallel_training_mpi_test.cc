// Sharded data parallelism, tensor parallelism and sharded checkpoints under mpirun (np 2 and 4):
// replicas stay bitwise identical for 20 steps, loss curves match one process, optimizer state
// per rank falls with DP, a resumed run equals an uninterrupted one bit for bit, and a checkpoint
// loads into another DP x TP layout with every element where it belongs; a checkpoint.dir one rank
// cannot write stops every rank at start.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/train/checkpoint.h"
#include "core/train/data_parallel.h"
#include "core/train/run_start.h"
#include "core/train/trainer.h"
#include "gtest/gtest.h"
#include "tests/testing/mpi_world.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/tiny_mpi_trainer.h"

namespace dqt {
namespace {

using testing::g_world;
using testing::IsOk;

const std::vector<std::string> kDqt8 = {"quant.optimizer=DQT", "quant.weight_format=INTEGER",
                                        "quant.weight_bits=8"};
const std::vector<std::string> kTernary = {"quant.optimizer=DQT", "quant.weight_format=TERNARY"};

std::vector<std::string> With(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

std::unique_ptr<Trainer> MakeTrainer(const std::vector<std::string>& overrides, Communicator* comm,
                                     bool run = true) {
  return testing::TinyMpiTrainer("pt", overrides, comm, run);
}

// "parallel.dp=..", "parallel.tp=.." for the world, with tp ranks per replica.
std::vector<std::string> Layout(int tp, const char* mode) {
  return {"parallel.dp=" + std::to_string(g_world->size() / tp),
          "parallel.tp=" + std::to_string(tp), std::string("parallel.dp_mode=") + mode};
}

// Every replica of every tensor: DP replicas hold identical shards, TP ranks identical copies of
// the tensors TP does not split.
void ExpectReplicasIdentical(const Trainer& t) {
  const ProcessGrid& grid = t.grid();
  const LlamaParams& params = t.model().params();
  EXPECT_THAT(
      CheckReplicaDigests(grid.dp_group(), params, 20, "data-parallel", false, grid.world().rank()),
      IsOk());
  EXPECT_THAT(CheckReplicaDigests(grid.tp_group(), params, 20, "tensor-parallel", true,
                                  grid.world().rank()),
              IsOk());
}

struct LayoutCase {
  int tp;
  const char* mode;
  bool ternary;
};

class ReplicaTest : public ::testing::TestWithParam<LayoutCase> {};

TEST_P(ReplicaTest, CodesBitwiseIdenticalAfterTwentySteps) {
  const LayoutCase c = GetParam();
  if (g_world->size() % c.tp != 0) GTEST_SKIP() << "world not divisible by tp";
  std::unique_ptr<Trainer> t =
      MakeTrainer(With(Layout(c.tp, c.mode), c.ternary ? kTernary : kDqt8), g_world);
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->step_losses().size(), 20u);
  ExpectReplicasIdentical(*t);
}

INSTANTIATE_TEST_SUITE_P(Layouts, ReplicaTest,
                         ::testing::Values(LayoutCase{1, "SHARDED", false},
                                           LayoutCase{1, "SHARDED", true},
                                           LayoutCase{2, "REPLICATED", false},
                                           LayoutCase{2, "SHARDED", true},
                                           LayoutCase{2, "SHARDED", false}),
                         [](const auto& info) {
                           return absl::StrCat("tp", info.param.tp, "_", info.param.mode,
                                               info.param.ternary ? "_ternary" : "_dqt8");
                         });

// train.on_nonfinite = SKIP_STEP with a NaN gradient on world rank 0 only (after the reduction):
// every rank skips that step (the decision is agreed), and the replicas stay identical.
TEST(ParallelTrainingAdversarial, SkipStepIsAgreedByEveryRank) {
  for (const char* mode : {"REPLICATED", "SHARDED"}) {
    std::unique_ptr<Trainer> t = MakeTrainer(
        With(Layout(1, mode), {"train.on_nonfinite=SKIP_STEP", "train.steps=5"}), g_world, false);
    ASSERT_NE(t, nullptr);
    t->set_gradient_fault([](int step, LlamaParams& params) {
      if (step == 2 && g_world->rank() == 0) params.grads().data()[7] = std::nanf("");
    });
    ASSERT_THAT(t->Run(), IsOk()) << mode;
    EXPECT_EQ(t->skipped_steps(), 1) << mode << " rank " << g_world->rank();
    ExpectReplicasIdentical(*t);
  }
}

// fp32 training with the same global batch (micro-batch 8 / dp per rank): DP=world sharded and
// TP=2 replay one process's math with fp32 additions reordered (the gradient reduce-scatter, the
// TP partial sums of o/down outputs and of input gradients), ~1e-7 relative per op, which 20
// AdamW steps could amplify to ~1e-5 (measured at np 2 and 4: at most 5.1e-7, printed by the
// test); 1e-3 relative leaves room while a wrong batch split, a missing reduction or a shard
// applied twice is off by > 1e-2.
TEST(ParallelTraining, LossCurvesMatchOneProcess) {
  const int world = g_world->size();
  std::unique_ptr<Trainer> one = MakeTrainer({"train.micro_batch=8"}, nullptr);
  ASSERT_NE(one, nullptr);
  for (int tp : {1, 2}) {
    const int dp = world / tp;
    std::unique_ptr<Trainer> t = MakeTrainer(
        With(Layout(tp, "SHARDED"), {"train.micro_batch=" + std::to_string(8 / dp)}), g_world);
    ASSERT_NE(t, nullptr);
    ASSERT_EQ(t->step_losses().size(), one->step_losses().size());
    double worst = 0;
    for (size_t i = 0; i < one->step_losses().size(); ++i) {
      EXPECT_NEAR(t->step_losses()[i], one->step_losses()[i], 1e-3 * one->step_losses()[i])
          << "tp " << tp << " step " << i;
      worst = std::max(worst, std::fabs(t->step_losses()[i] / one->step_losses()[i] - 1));
    }
    if (g_world->rank() == 0) {
      std::printf("dp %d x tp %d: largest relative loss difference %.2e\n", dp, tp, worst);
    }
  }
}

int64_t MomentBytes(const Trainer& t) {
  int64_t bytes = 0;
  for (const OwnedSlice& s : t.optimizer().owned())
    bytes += t.optimizer().moments(s.tensor).bytes();
  return bytes;
}

// Each DP rank keeps moments for its slice only: the ranks' bytes add up to one replica's, and
// each holds about 1/dp of them (slices are cut at 256-element blocks, so not exactly).
TEST(ParallelTraining, ShardedOptimizerStateFallsWithDp) {
  std::unique_ptr<Trainer> one = MakeTrainer(With(kDqt8, {"train.steps=2"}), nullptr);
  std::unique_ptr<Trainer> sharded =
      MakeTrainer(With(With(kDqt8, Layout(1, "SHARDED")), {"train.steps=2"}), g_world);
  ASSERT_NE(one, nullptr);
  ASSERT_NE(sharded, nullptr);
  double mine = static_cast<double>(MomentBytes(*sharded)), total = mine;
  ASSERT_THAT(g_world->AllReduce(&total, 1, ReduceOp::kSum), IsOk());
  EXPECT_EQ(total, static_cast<double>(MomentBytes(*one)));
  EXPECT_LT(mine, 1.1 * MomentBytes(*one) / g_world->size() + 4096);
}

std::string CheckpointRoot(const std::string& name) {
  const std::string dir =
      ::testing::TempDir() + "/pt_ckpt_np" + std::to_string(g_world->size()) + "_" + name;
  if (g_world->rank() == 0) std::filesystem::remove_all(dir);
  EXPECT_THAT(g_world->Barrier(), IsOk());
  return dir;
}

// Resume from step 5's checkpoint (what a run killed after step 5 leaves; the schedule is that of
// the 10-step run) and run to step 10: the codes, scales and losses equal those of the
// uninterrupted run bit for bit.
TEST(ParallelTraining, ResumedRunEqualsUninterruptedRun) {
  const int tp = g_world->size() >= 4 ? 2 : 1;
  const std::vector<std::string> base =
      With(With(kTernary, Layout(tp, "SHARDED")), {"train.steps=10", "quant.moments=BF16"});
  const std::string a = CheckpointRoot("whole"), b = CheckpointRoot("resumed");
  std::unique_ptr<Trainer> whole =
      MakeTrainer(With(base, {"checkpoint.dir=" + a, "checkpoint.every=5"}), g_world);
  ASSERT_NE(whole, nullptr);
  std::unique_ptr<Trainer> resumed = MakeTrainer(
      With(base, {"checkpoint.dir=" + b, "checkpoint.resume=" + a + "/step_000005"}), g_world);
  ASSERT_NE(resumed, nullptr);
  EXPECT_EQ(TensorDigests(resumed->model().params()), TensorDigests(whole->model().params()));
  ASSERT_EQ(resumed->step_losses().size(), 5u);
  for (size_t i = 0; i < 5; ++i) EXPECT_EQ(resumed->step_losses()[i], whole->step_losses()[5 + i]);
}

// Element i of every tensor and of its owned moments in `shard` equals element GlobalIndex(i) of
// `whole` (a one-process trainer holding everything).
void ExpectSameState(const Trainer& shard_t, const Trainer& whole_t) {
  const LlamaParams& shard = shard_t.model().params();
  const LlamaParams& whole = whole_t.model().params();
  for (const ParamTensor& t : shard.tensors()) {
    const ParamTensor& w = whole.tensors()[t.id];
    for (int64_t i = 0; i < t.numel; ++i) {
      const uint64_t gi = GlobalIndex(t, i);
      if (t.storage == ParamStorage::kCodes) {
        ASSERT_EQ(shard.codes()[t.code_offset + i], whole.codes()[w.code_offset + gi]) << t.name;
      } else {
        ASSERT_EQ(shard.values()[t.value_offset + i], whole.values()[w.value_offset + gi])
            << t.name;
      }
    }
  }
  for (const OwnedSlice& s : shard_t.optimizer().owned()) {
    const ParamTensor& t = shard.tensors()[s.tensor];
    const MomentsView mine = shard_t.optimizer().moments(s.tensor).ConstView();
    const MomentsView all = whole_t.optimizer().moments(s.tensor).ConstView();
    ASSERT_EQ(mine.format, MomentFormat::kFp32);
    for (int64_t i = s.begin; i < s.end; ++i) {
      const uint64_t gi = GlobalIndex(t, i);
      ASSERT_EQ(static_cast<const float*>(mine.m)[i - s.begin],
                static_cast<const float*>(all.m)[gi])
          << t.name;
      ASSERT_EQ(static_cast<const float*>(mine.v)[i - s.begin],
                static_cast<const float*>(all.v)[gi])
          << t.name;
    }
  }
}

// A checkpoint of the whole-world layout (DP x TP = world/2 x 2 sharded, or world x 1) loads into
// one process, and one process's checkpoint loads into that layout: every weight and moment lands
// at its global index.
TEST(ParallelTraining, CheckpointsReshardAcrossLayouts) {
  const int tp = g_world->size() >= 4 ? 2 : 1;
  const std::vector<std::string> base = With(kDqt8, {"train.steps=3"});
  // A resume keeps the global batch: one process accumulates the micro-batches of the layout's
  // dp ranks (tiny.pbtxt accumulates 2 per rank).
  const std::vector<std::string> one_process =
      With(base, {"train.grad_accum=" + std::to_string(2 * g_world->size() / tp)});
  const std::string a = CheckpointRoot("layout_a");
  std::unique_ptr<Trainer> sharded =
      MakeTrainer(With(With(base, Layout(tp, "SHARDED")), {"checkpoint.dir=" + a}), g_world);
  ASSERT_NE(sharded, nullptr);
  // Every rank loads the layout's checkpoint into its own one-process trainer (no steps left).
  std::unique_ptr<Trainer> one =
      MakeTrainer(With(one_process, {"checkpoint.resume=" + a + "/step_000003"}), nullptr, false);
  ASSERT_NE(one, nullptr);
  ExpectSameState(*sharded, *one);

  // And back: one process's checkpoint (rank 0 writes it) into the layout.
  const std::string b = CheckpointRoot("layout_b");
  if (g_world->rank() == 0) {
    std::unique_ptr<Trainer> writer =
        MakeTrainer(With(one_process, {"checkpoint.dir=" + b}), nullptr);
    ASSERT_NE(writer, nullptr);
  }
  ASSERT_THAT(g_world->Barrier(), IsOk());
  std::unique_ptr<Trainer> reader = MakeTrainer(
      With(With(base, Layout(tp, "SHARDED")), {"checkpoint.resume=" + b + "/step_000003"}), g_world,
      false);
  std::unique_ptr<Trainer> source =
      MakeTrainer(With(one_process, {"checkpoint.resume=" + b + "/step_000003"}), nullptr, false);
  ASSERT_NE(reader, nullptr);
  ASSERT_NE(source, nullptr);
  ExpectSameState(*reader, *source);
}

// A checkpoint.dir one rank cannot write (here rank 1's lies under a plain file, as when a mount
// is missing on one node) stops every rank at start with the same error naming that rank.
TEST(CheckpointDirAdversarial, UnwritableOnOneRankStopsEveryRank) {
  const std::string root = CheckpointRoot("unwritable");
  std::filesystem::create_directories(root);
  const std::string file = root + "/a_file_" + std::to_string(g_world->rank());
  std::ofstream(file) << "not a directory\n";
  const std::string dir = g_world->rank() == 1 ? file + "/ckpt" : root + "/ckpt";
  const absl::Status status = CheckCheckpointDirWritable(*g_world, dir);
  EXPECT_THAT(status,
              testing::StatusIs(absl::StatusCode::kPermissionDenied,
                                "is not writable on rank 1 of " + std::to_string(g_world->size())));
  if (g_world->rank() == 1) {
    EXPECT_THAT(status, testing::StatusIs(absl::StatusCode::kPermissionDenied, "cannot create"));
  }
  EXPECT_THAT(CheckCheckpointDirWritable(*g_world, root + "/ckpt"), IsOk());
}

}  // namespace
}  // namespace dqt
