// The start-up memory estimate (core/train/memory_estimate.h) against what the memory ledger holds
// after building the trainer and running one step, for each storage of the weights: fp32, DQT-8,
// DQT-ternary on every tensor with block-8 moments, BitNet latents, TernaryLLM with a logit
// distillation teacher, and per-block recomputation with the fused update. Weights, optimizer
// state, gradients and activations must match to the byte; the scratch and teacher peaks and the
// total within kTolerance. Also the host memory readers on planted /proc and cgroup files.
#include "core/train/memory_estimate.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/base/host_memory.h"
#include "core/base/memory_ledger.h"
#include "core/train/trainer.h"
#include "gtest/gtest.h"
#include "launch/config.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/text_shards.h"
#include "tests/testing/tiny_run.h"

namespace dqt {
namespace {

using testing::IsOk;
using testing::MakeTextShard;
using testing::StatusIs;

// The largest relative error allowed where the estimate is not exact: the scratch peak (small
// transient buffers of a few bytes each, rounded to 64) and the teacher's.
constexpr double kTolerance = 0.01;

absl::StatusOr<RunConfig> ConfigOf(const std::vector<std::string>& extra, const std::string& dir,
                                   int steps) {
  static const std::string train = MakeTextShard("gutenberg_train.txt", 20000, "m_train.bin");
  static const std::string eval = MakeTextShard("gutenberg_heldout.txt", 4000, "m_eval.bin");
  std::vector<std::string> overrides = {"data.train_shard=" + train,
                                        "data.eval_shard=" + eval,
                                        "train.steps=" + std::to_string(steps),
                                        "train.grad_accum=1",
                                        "train.eval_every=0",
                                        "train.eval_sequences=4",
                                        "optimizer.warmup_steps=0",
                                        "checkpoint.dir=" + dir,
                                        "log.jsonl_path=" + dir + "/log.jsonl"};
  overrides.insert(overrides.end(), extra.begin(), extra.end());
  DQT_ASSIGN_OR_RETURN(const proto::RunProto run, testing::TinyRunProto(overrides));
  DQT_RETURN_IF_ERROR(ValidateRunProto(run));
  return ToRunConfig(run);
}

// An fp checkpoint for the teachers: the tiny model trained one step.
std::string FpCheckpoint() {
  static const std::string path = [] {
    const std::string dir = ::testing::TempDir() + "/memory_estimate_base";
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    absl::StatusOr<RunConfig> config = ConfigOf({}, dir, 1);
    EXPECT_THAT(config, IsOk());
    absl::StatusOr<std::unique_ptr<Trainer>> t = Trainer::Create(*config);
    EXPECT_THAT(t, IsOk());
    EXPECT_THAT((*t)->Run(), IsOk());
    return dir + "/step_000001";
  }();
  return path;
}

struct Case {
  const char* name;
  std::vector<std::string> overrides;
};

class MemoryEstimateTest : public ::testing::TestWithParam<Case> {};

TEST_P(MemoryEstimateTest, MatchesTheLedgerAfterOneStep) {
  std::vector<std::string> overrides = GetParam().overrides;
  for (std::string& o : overrides) {
    if (o == "distill.teacher=") o += FpCheckpoint();
  }
  const std::string dir = ::testing::TempDir() + "/memory_estimate_" + GetParam().name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  absl::StatusOr<RunConfig> config = ConfigOf(overrides, dir, 1);
  ASSERT_THAT(config, IsOk());
  const MemoryEstimate e = EstimateTrainingMemory(*config);

  const MemorySnapshot before = ReadMemoryLedger();
  ResetMemoryPeaks();
  absl::StatusOr<std::unique_ptr<Trainer>> trainer = Trainer::Create(*config);
  ASSERT_THAT(trainer, IsOk());
  ASSERT_THAT((*trainer)->Run(), IsOk());
  const MemorySnapshot m = ReadMemoryLedger();
  auto held = [&](MemoryKind k) { return double(m.Current(k) - before.Current(k)); };
  auto peak = [&](MemoryKind k) { return double(m.Peak(k) - before.Current(k)); };

  EXPECT_EQ(e.weights, held(MemoryKind::kWeights));
  EXPECT_EQ(e.optimizer, held(MemoryKind::kOptimizer));
  EXPECT_EQ(e.gradients, held(MemoryKind::kGradients));
  EXPECT_EQ(e.activations, peak(MemoryKind::kActivations));
  EXPECT_NEAR(e.workspace, peak(MemoryKind::kWorkspace), kTolerance * peak(MemoryKind::kWorkspace));
  EXPECT_NEAR(e.teacher, peak(MemoryKind::kTeacher), kTolerance * peak(MemoryKind::kTeacher));
  double measured = 0;
  for (const MemoryKind k :
       {MemoryKind::kWeights, MemoryKind::kOptimizer, MemoryKind::kGradients,
        MemoryKind::kActivations, MemoryKind::kWorkspace, MemoryKind::kTeacher}) {
    measured += peak(k);
  }
  const double estimated = e.total() - e.host_extra;
  EXPECT_NEAR(estimated, measured, kTolerance * measured);
  std::printf(
      "%-12s estimate %10.0f B, ledger peaks %10.0f B (%+.2f%%); workspace %.0f vs %.0f, "
      "teacher %.0f vs %.0f\n",
      GetParam().name, estimated, measured, 100 * (estimated / measured - 1), e.workspace,
      peak(MemoryKind::kWorkspace), e.teacher, peak(MemoryKind::kTeacher));
}

INSTANTIATE_TEST_SUITE_P(
    Storages, MemoryEstimateTest,
    ::testing::Values(
        Case{"fp", {}},
        Case{"dqt8",
             {"quant.optimizer=DQT", "quant.weight_format=INTEGER", "quant.weight_bits=8",
              "quant.int8_activations=true", "quant.forward_gemm=GEMM_INT8"}},
        Case{"ternary_all",
             {"quant.optimizer=DQT", "quant.weight_format=TERNARY", "quant.policy=ALL",
              "quant.moments=INT8", "quant.recompute_scale=true"}},
        Case{"bitnet",
             {"quant.optimizer=BITNET", "quant.weight_format=TERNARY",
              "quant.int8_activations=true", "model.subln=true"}},
        Case{"tllm_kd",
             {"quant.optimizer=TERNARYLLM", "quant.weight_format=TERNARY", "quant.dlt_group=16",
              "distill.teacher=", "distill.logit_lambda=0.5", "distill.off_lambda=1",
              "distill.off_layers=0,1"}},
        Case{
            "fused_recompute",
            {"train.fused_update=true", "optimizer.grad_clip=0", "train.recompute_activations=true",
             "quant.optimizer=DQT", "quant.weight_format=INTEGER", "quant.weight_bits=4",
             "quant.moments=BF16", "quant.per_channel_scale=true"}}),
    [](const ::testing::TestParamInfo<Case>& info) { return std::string(info.param.name); });

// A run far beyond the memory there is is refused before any work, naming every figure; the
// same run fits when the memory is there.
TEST(MemoryCheck, RefusesNamingTheFigures) {
  absl::StatusOr<RunConfig> config =
      ConfigOf({"train.micro_batch=1048576"}, ::testing::TempDir() + "/memory_check", 1);
  ASSERT_THAT(config, IsOk());
  const MemoryEstimate e = EstimateTrainingMemory(*config);
  EXPECT_GT(e.activations, 50e9);
  const absl::Status refused = CheckMemoryFits(*config, e, 2 * e.total(), 2, 1e9, "planted figure");
  EXPECT_THAT(refused, StatusIs(absl::StatusCode::kResourceExhausted, "not enough host memory"));
  for (const char* needle : {"weights", "optimizer state", "gradients", "activations",
                             "train.micro_batch 1048576", "workspace/scratch", "per rank",
                             "2 ranks on this node", "with the margin", "planted figure"}) {
    EXPECT_NE(refused.message().find(needle), std::string::npos) << needle << "\n" << refused;
  }
  const double needed = 2 * e.total() * (1 + kMemoryMarginFraction) + kMemoryMarginBytes;
  EXPECT_THAT(CheckMemoryFits(*config, e, 2 * e.total(), 2, needed * 1.001, "x"), IsOk());
  EXPECT_THAT(CheckMemoryFits(*config, e, 2 * e.total(), 2, needed * 0.999, "x"),
              StatusIs(absl::StatusCode::kResourceExhausted, "not enough"));
}

void Plant(const std::string& path, const std::string& text) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream(path) << text;
}

TEST(HostMemory, TheLeastOfMemAvailableAndEveryCgroupLimit) {
  const std::string root = ::testing::TempDir() + "/host_memory_root";
  std::filesystem::remove_all(root);
  Plant(root + "/proc/meminfo", "MemTotal:       32000000 kB\nMemAvailable:   20000000 kB\n");
  // Nothing but meminfo: MemAvailable.
  AvailableMemory a = HostMemoryAvailable(root);
  EXPECT_EQ(a.bytes, 20000000.0 * 1024);
  EXPECT_NE(a.source.find("MemAvailable"), std::string::npos) << a.source;
  // cgroup v2: the job's cgroup allows 4 GiB, its parent 3 GiB; usage less inactive file pages.
  Plant(root + "/proc/self/cgroup", "0::/job/step\n");
  Plant(root + "/sys/fs/cgroup/job/step/memory.max", "4294967296\n");
  Plant(root + "/sys/fs/cgroup/job/step/memory.current", "1073741824\n");
  Plant(root + "/sys/fs/cgroup/job/memory.max", "3221225472\n");
  Plant(root + "/sys/fs/cgroup/job/memory.current", "2147483648\n");
  Plant(root + "/sys/fs/cgroup/job/memory.stat", "anon 1\ninactive_file 536870912\n");
  a = HostMemoryAvailable(root);
  EXPECT_EQ(a.bytes, 3221225472.0 - 2147483648.0 + 536870912.0);
  EXPECT_NE(a.source.find("job/memory.max"), std::string::npos) << a.source;
  // "max" is no limit.
  Plant(root + "/sys/fs/cgroup/job/memory.max", "max\n");
  a = HostMemoryAvailable(root);
  EXPECT_EQ(a.bytes, 4294967296.0 - 1073741824.0);
  // cgroup v1: the memory controller's limit, and v1's "no limit" value is none.
  Plant(root + "/proc/self/cgroup", "4:memory:/slurm/job1\n1:cpu:/\n");
  Plant(root + "/sys/fs/cgroup/memory/slurm/job1/memory.limit_in_bytes", "2147483648\n");
  Plant(root + "/sys/fs/cgroup/memory/slurm/job1/memory.usage_in_bytes", "1073741824\n");
  Plant(root + "/sys/fs/cgroup/memory/memory.limit_in_bytes", "9223372036854771712\n");
  Plant(root + "/sys/fs/cgroup/memory/memory.usage_in_bytes", "5\n");
  a = HostMemoryAvailable(root);
  EXPECT_EQ(a.bytes, 1073741824.0);
  EXPECT_NE(a.source.find("cgroup v1"), std::string::npos) << a.source;
  // This machine: a positive figure from a named source.
  a = HostMemoryAvailable();
  EXPECT_GT(a.bytes, 0);
  EXPECT_FALSE(a.source.empty());
}

}  // namespace
}  // namespace dqt
