// Safe failure of a bad step (issue 11): under train.on_nonfinite = STOP a non-finite or diverged
// step ends the run naming the step and the first bad tensor, before its update and without
// saving; under SKIP_STEP it is left out, counted and logged; a log that cannot be written names
// its file and the cause.
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "core/base/float_mode.h"
#include "core/train/data_parallel.h"
#include "core/train/step_guard.h"
#include "core/train/trainer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "launch/config.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/text_shards.h"
#include "tests/testing/tiny_run.h"

namespace dqt {
namespace {

using ::testing::HasSubstr;
using testing::IsOk;
using testing::MakeTextShard;
using ::testing::Not;
using testing::StatusIs;

constexpr float kNan = std::numeric_limits<float>::quiet_NaN();

absl::StatusOr<proto::RunProto> Proto(const std::vector<std::string>& extra,
                                      const std::string& dir) {
  const std::string train = MakeTextShard("gutenberg_train.txt", 80000, "nf_train.bin");
  const std::string eval = MakeTextShard("gutenberg_heldout.txt", 8000, "nf_eval.bin");
  std::vector<std::string> overrides = {"data.train_shard=" + train,
                                        "data.eval_shard=" + eval,
                                        "optimizer.lr=1e-2",
                                        "train.steps=10",
                                        "train.eval_every=0",
                                        "train.eval_sequences=4",
                                        "checkpoint.dir=" + dir,
                                        "checkpoint.every=2",
                                        "log.jsonl_path=" + dir + "/log.jsonl"};
  overrides.insert(overrides.end(), extra.begin(), extra.end());
  return testing::TinyRunProto(overrides);
}

absl::StatusOr<std::unique_ptr<Trainer>> MakeTrainer(const std::vector<std::string>& extra,
                                                     const std::string& dir) {
  DQT_ASSIGN_OR_RETURN(const proto::RunProto run, Proto(extra, dir));
  DQT_RETURN_IF_ERROR(ValidateRunProto(run));
  return Trainer::Create(ToRunConfig(run));
}

std::string FreshDir(const std::string& name) {
  const std::string dir = ::testing::TempDir() + "/" + name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The fp32 values of the tensor named `name`.
float* ValuesOf(LlamaParams& params, const std::string& name) {
  for (const ParamTensor& t : params.tensors()) {
    if (t.name == name && t.value_offset >= 0) return params.values().data() + t.value_offset;
  }
  return nullptr;
}

const ParamTensor* TensorNamed(const LlamaParams& params, const std::string& name) {
  for (const ParamTensor& t : params.tensors()) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

TEST(NonFiniteAdversarial, ThresholdAndReasons) {
  EXPECT_NEAR(DivergedLossThreshold(32000), 10 * std::log(32000.0), 1e-9);
  EXPECT_EQ(BadStepReason(5.0, 1.0, 32000), "");
  EXPECT_THAT(BadStepReason(kNan, 1.0, 32000), HasSubstr("non-finite loss"));
  EXPECT_THAT(BadStepReason(5.0, std::numeric_limits<double>::infinity(), 32000),
              HasSubstr("gradient norm inf"));
  EXPECT_THAT(BadStepReason(1e8, 1.0, 32000), HasSubstr("diverged: loss 1e+08"));
}

// A NaN gradient at step 3 (after the step-2 checkpoint): the run stops at step 3 naming the
// tensor, the weights are those after step 2 (no update), and no checkpoint or log line of the
// bad state exists.
TEST(NonFiniteAdversarial, StopNamesStepAndTensorAndSavesNothing) {
  const std::string dir = FreshDir("nf_stop");
  absl::StatusOr<std::unique_ptr<Trainer>> t = MakeTrainer({}, dir);
  ASSERT_THAT(t, IsOk());
  const std::string name = (*t)->model().params().tensors()[3].name;
  std::vector<uint64_t> before;
  (*t)->set_gradient_fault([&](int step, LlamaParams& params) {
    if (step != 3) return;
    before = TensorDigests(params);
    params.grads().data()[params.tensors()[3].offset + 2] = kNan;
  });
  const absl::Status s = (*t)->Run();
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kInternal, "step 3: non-finite loss"));
  EXPECT_THAT(s.message(), HasSubstr("gradient of " + name + " (element 2 = nan)"));
  EXPECT_THAT(s.message(), HasSubstr("the update was not applied"));
  EXPECT_THAT(s.message(), Not(HasSubstr("raise optimizer.grad_clip")));
  EXPECT_EQ(TensorDigests((*t)->model().params()), before);
  EXPECT_TRUE(std::filesystem::exists(dir + "/step_000002"));
  int checkpoints = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    checkpoints += e.path().filename().string().rfind("step_", 0) == 0;
  }
  EXPECT_EQ(checkpoints, 1);
  EXPECT_THAT(ReadAll(dir + "/log.jsonl"), Not(HasSubstr("\"step\":3,")));
}

// A NaN weight before the first step: stopped at step 0, the message names a bad tensor.
TEST(NonFiniteAdversarial, StopNamesANanWeight) {
  const std::string dir = FreshDir("nf_weight");
  absl::StatusOr<std::unique_ptr<Trainer>> t = MakeTrainer({}, dir);
  ASSERT_THAT(t, IsOk());
  float* gain = ValuesOf((*t)->model().params(), "model.norm.weight");
  ASSERT_NE(gain, nullptr);
  gain[1] = kNan;
  const absl::Status s = (*t)->Run();
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kInternal, "step 0: non-finite"));
  EXPECT_THAT(s.message(), HasSubstr("first non-finite tensor on rank 0: gradient of "));
}

// The fused update cannot take a step back: SKIP_STEP is refused with it, and STOP names the
// first tensor whose gradient was non-finite and says the update was applied.
TEST(NonFiniteAdversarial, FusedUpdateStopsAndRefusesSkip) {
  const std::string dir = FreshDir("nf_fused");
  absl::StatusOr<proto::RunProto> skip =
      Proto({"train.fused_update=true", "train.grad_accum=1", "optimizer.grad_clip=0",
             "train.on_nonfinite=SKIP_STEP"},
            dir);
  ASSERT_THAT(skip, IsOk());
  EXPECT_THAT(ValidateRunProto(*skip),
              StatusIs(absl::StatusCode::kInvalidArgument, "train.on_nonfinite = SKIP_STEP"));
  absl::StatusOr<std::unique_ptr<Trainer>> t =
      MakeTrainer({"train.fused_update=true", "train.grad_accum=1", "optimizer.grad_clip=0"}, dir);
  ASSERT_THAT(t, IsOk());
  ValuesOf((*t)->model().params(), "model.norm.weight")[0] = kNan;
  const absl::Status s = (*t)->Run();
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kInternal, "step 0: non-finite"));
  EXPECT_THAT(s.message(), HasSubstr("tensor on rank 0: gradient of "));
  EXPECT_THAT(s.message(), HasSubstr("under the fused update this step's update was applied"));
}

// A final-norm gain of 1e6 makes every logit huge: the loss is finite but far above
// 10 x ln(vocab), and STOP ends the run there.
TEST(NonFiniteAdversarial, DivergedLossStops) {
  const std::string dir = FreshDir("nf_diverged");
  absl::StatusOr<std::unique_ptr<Trainer>> t = MakeTrainer({}, dir);
  ASSERT_THAT(t, IsOk());
  LlamaParams& params = (*t)->model().params();
  const ParamTensor* norm = TensorNamed(params, "model.norm.weight");
  ASSERT_NE(norm, nullptr);
  for (int64_t i = 0; i < norm->numel; ++i) params.values().data()[norm->value_offset + i] = 1e6f;
  const absl::Status s = (*t)->Run();
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kInternal, "step 0: diverged: loss"));
  EXPECT_THAT(s.message(), HasSubstr("none (all values finite)"));
}

// SKIP_STEP: steps 1 and 3 of 5 get a NaN gradient; each is left out (the weights after step 1
// equal those before it), counted, logged, and the run finishes.
TEST(NonFiniteAdversarial, SkipStepLeavesWeightsAndCountsAndLogs) {
  const std::string dir = FreshDir("nf_skip");
  absl::StatusOr<std::unique_ptr<Trainer>> t =
      MakeTrainer({"train.on_nonfinite=SKIP_STEP", "train.steps=5"}, dir);
  ASSERT_THAT(t, IsOk());
  std::vector<uint64_t> before_1, before_2;
  (*t)->set_gradient_fault([&](int step, LlamaParams& params) {
    if (step == 1) before_1 = TensorDigests(params);
    if (step == 2) before_2 = TensorDigests(params);
    if (step == 1 || step == 3) params.grads().data()[5] = kNan;
  });
  ASSERT_THAT((*t)->Run(), IsOk());
  EXPECT_EQ((*t)->skipped_steps(), 2);
  ASSERT_FALSE(before_1.empty());
  EXPECT_EQ(before_1, before_2);
  const std::string log = ReadAll(dir + "/log.jsonl");
  EXPECT_THAT(log, HasSubstr("{\"event\":\"skipped_step\",\"step\":1,"));
  EXPECT_THAT(log, HasSubstr("{\"event\":\"skipped_step\",\"step\":3,"));
  EXPECT_THAT(log, HasSubstr("\"skipped_steps\":2}"));
  EXPECT_THAT(log, Not(HasSubstr("nan,")));  // no step line carries the NaN loss
  EXPECT_TRUE(std::isfinite((*t)->step_losses().back()));
}

// The trainer flushes denormals on the threads that run its CPU kernels (core/base/float_mode.h):
// no other code of this test binary sets the mode.
TEST(DenormalFlushAdversarial, TrainerSetsFtzDazOnKernelThreads) {
#if !defined(__SSE2__)
  GTEST_SKIP() << "FTZ/DAZ are x86 MXCSR bits";
#endif
  const std::string dir = FreshDir("nf_ftz");
  absl::StatusOr<std::unique_ptr<Trainer>> t = MakeTrainer({}, dir);
  ASSERT_THAT(t, IsOk());
  EXPECT_TRUE(DenormalsFlushed());
  int unflushed = 0;
#pragma omp parallel reduction(+ : unflushed)
  unflushed += DenormalsFlushed() ? 0 : 1;
  EXPECT_EQ(unflushed, 0);
}

// A log that cannot be written (a full device) names the file and the system's reason.
TEST(TrainLogAdversarial, WriteErrorNamesFileAndCause) {
  if (!std::filesystem::exists("/dev/full")) GTEST_SKIP() << "no /dev/full";
  const std::string dir = FreshDir("nf_log");
  absl::StatusOr<std::unique_ptr<Trainer>> t = MakeTrainer({"log.jsonl_path=/dev/full"}, dir);
  ASSERT_THAT(t, IsOk());
  const absl::Status s = (*t)->Run();
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kInternal, "/dev/full"));
  EXPECT_THAT(s.message(), HasSubstr("No space left on device"));
}

}  // namespace
}  // namespace dqt
