// Stop a run at step 5, resume from its checkpoint, finish at step 10: the weights (codes and
// scales, fp32 values, DLT latents, scales and shifts) equal those of an uninterrupted run bit for
// bit, for fp32, DQT with block-8 moments and TernaryLLM; a checkpoint of another model is refused.
#include <filesystem>
#include <string>
#include <vector>

#include "core/train/data_parallel.h"
#include "core/train/trainer.h"
#include "gtest/gtest.h"
#include "launch/config.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/text_shards.h"

namespace dqt {
namespace {

using testing::IsOk;
using testing::MakeTextShard;
using testing::StatusIs;

absl::StatusOr<std::unique_ptr<Trainer>> MakeTrainer(const std::vector<std::string>& extra,
                                                     const std::string& dir) {
  const std::string train = MakeTextShard("gutenberg_train.txt", 80000, "r_train.bin");
  const std::string eval = MakeTextShard("gutenberg_heldout.txt", 8000, "r_eval.bin");
  const char* src = std::getenv("DQT_SOURCE_DIR");
  std::vector<std::string> overrides = {
      "data.train_shard=" + train, "data.eval_shard=" + eval,
      "optimizer.lr=1e-2",         "train.steps=10",
      "train.eval_every=0",        "checkpoint.dir=" + dir,
      "checkpoint.every=5",        "log.jsonl_path=" + dir + "/log.jsonl"};
  overrides.insert(overrides.end(), extra.begin(), extra.end());
  absl::StatusOr<proto::RunProto> run =
      LoadRunProto(std::string(src ? src : ".") + "/launch/configs/tiny.pbtxt", overrides);
  if (!run.ok()) return run.status();
  DQT_RETURN_IF_ERROR(ValidateRunProto(*run));
  return Trainer::Create(ToRunConfig(*run));
}

class ResumeTest : public ::testing::TestWithParam<std::vector<std::string>> {};

TEST_P(ResumeTest, ResumedRunEqualsUninterruptedRunBitForBit) {
  const std::string dir = ::testing::TempDir() + "/resume_a";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  absl::StatusOr<std::unique_ptr<Trainer>> whole = MakeTrainer(GetParam(), dir);
  ASSERT_THAT(whole, IsOk());
  ASSERT_THAT((*whole)->Run(), IsOk());
  const std::string mid = dir + "/step_000005";
  ASSERT_TRUE(std::filesystem::exists(mid));

  const std::string dir_b = ::testing::TempDir() + "/resume_b";
  std::filesystem::remove_all(dir_b);
  std::filesystem::create_directories(dir_b);
  std::vector<std::string> resume = GetParam();
  resume.push_back("checkpoint.resume=" + mid);
  absl::StatusOr<std::unique_ptr<Trainer>> resumed = MakeTrainer(resume, dir_b);
  ASSERT_THAT(resumed, IsOk());
  ASSERT_THAT((*resumed)->Run(), IsOk());
  EXPECT_EQ((*resumed)->step_losses().size(), 5u);  // steps 5..9 only
  EXPECT_EQ(TensorDigests((*resumed)->model().params()), TensorDigests((*whole)->model().params()));
  // The losses of the resumed steps are those of the uninterrupted run's last five steps.
  for (size_t i = 0; i < 5; ++i) {
    EXPECT_EQ((*resumed)->step_losses()[i], (*whole)->step_losses()[5 + i]) << i;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Modes, ResumeTest,
    ::testing::Values(std::vector<std::string>{},
                      std::vector<std::string>{"quant.optimizer=DQT", "quant.weight_format=INTEGER",
                                               "quant.weight_bits=4", "quant.moments=INT8"},
                      std::vector<std::string>{"quant.optimizer=DQT", "quant.weight_format=TERNARY",
                                               "quant.moments=BF16"},
                      std::vector<std::string>{"quant.optimizer=TERNARYLLM",
                                               "quant.weight_format=TERNARY",
                                               "quant.dlt_group=8"}));

TEST(Resume, OtherModelIsRefused) {
  const std::string dir = ::testing::TempDir() + "/resume_c";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  absl::StatusOr<std::unique_ptr<Trainer>> fp = MakeTrainer({}, dir);
  ASSERT_THAT(fp, IsOk());
  ASSERT_THAT((*fp)->Run(), IsOk());
  std::filesystem::create_directories(dir + "_x");
  EXPECT_THAT(MakeTrainer({"quant.optimizer=DQT", "quant.weight_format=TERNARY",
                           "checkpoint.resume=" + dir + "/step_000005"},
                          dir + "_x"),
              StatusIs(absl::StatusCode::kInvalidArgument, "cannot resume"));
}

// Before any work: a fresh run into a checkpoint.dir holding checkpoints, or a resume from an
// older step than the newest there, would collide with them at its end; "latest" with none.
TEST(Resume, CollidingCheckpointDirIsRefusedUpFront) {
  const std::string dir = ::testing::TempDir() + "/resume_d";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  EXPECT_THAT(MakeTrainer({"checkpoint.resume=latest"}, dir),
              StatusIs(absl::StatusCode::kNotFound, "no complete checkpoint"));
  absl::StatusOr<std::unique_ptr<Trainer>> first = MakeTrainer({}, dir);
  ASSERT_THAT(first, IsOk());
  ASSERT_THAT((*first)->Run(), IsOk());
  EXPECT_THAT(MakeTrainer({}, dir),
              StatusIs(absl::StatusCode::kAlreadyExists, "checkpoint.resume=" + dir));
  EXPECT_THAT(MakeTrainer({"checkpoint.resume=" + dir + "/step_000005"}, dir),
              StatusIs(absl::StatusCode::kAlreadyExists, "newer than the resumed step 5"));
  absl::StatusOr<std::unique_ptr<Trainer>> latest = MakeTrainer({"checkpoint.resume=latest"}, dir);
  ASSERT_THAT(latest, IsOk());
  EXPECT_THAT((*latest)->Run(), IsOk());
  EXPECT_TRUE((*latest)->step_losses().empty());  // already at step 10
}

}  // namespace
}  // namespace dqt
