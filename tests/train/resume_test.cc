// Stop a run at step 5, resume from its checkpoint, finish at step 10: the weights (codes and
// scales, fp32 values, DLT latents, scales and shifts) equal those of an uninterrupted run bit for
// bit, for fp32, DQT with block-8 moments and TernaryLLM; a checkpoint of another model is refused;
// bad resumes and checkpoint directories are errors before any work (ResumeAdversarial).
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "core/train/data_parallel.h"
#include "core/train/trainer.h"
#include "gtest/gtest.h"
#include "launch/config.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/text_shards.h"
#include "tests/testing/tiny_run.h"
#include "xxhash.h"

namespace dqt {
namespace {

using testing::IsOk;
using testing::MakeTextShard;
using testing::StatusIs;

absl::StatusOr<std::unique_ptr<Trainer>> MakeTrainer(const std::vector<std::string>& extra,
                                                     const std::string& dir) {
  const std::string train = MakeTextShard("gutenberg_train.txt", 80000, "r_train.bin");
  const std::string eval = MakeTextShard("gutenberg_heldout.txt", 8000, "r_eval.bin");
  std::vector<std::string> overrides = {
      "data.train_shard=" + train, "data.eval_shard=" + eval,
      "optimizer.lr=1e-2",         "train.steps=10",
      "train.eval_every=0",        "checkpoint.dir=" + dir,
      "checkpoint.every=5",        "log.jsonl_path=" + dir + "/log.jsonl"};
  overrides.insert(overrides.end(), extra.begin(), extra.end());
  return testing::TinyTrainer(overrides);
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

// Bad resumes and bad checkpoint directories: each is an error before any work, naming what to
// fix.
class ResumeAdversarial : public ::testing::Test {
 protected:
  // A fresh directory `name` under TempDir.
  static std::string Fresh(const std::string& name) {
    const std::string dir = ::testing::TempDir() + "/" + name;
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    return dir;
  }
  // A trainer of 4 steps, checkpoints every 2, then `extra`.
  static absl::StatusOr<std::unique_ptr<Trainer>> Make(std::vector<std::string> extra,
                                                       const std::string& dir) {
    extra.insert(extra.begin(), {"train.steps=4", "checkpoint.every=2"});
    return MakeTrainer(extra, dir);
  }
  // A finished run of Make(extra) in a fresh `name` (checkpoints at 2 and 4).
  static std::string Trained(const std::string& name, const std::vector<std::string>& extra = {}) {
    const std::string dir = Fresh(name);
    absl::StatusOr<std::unique_ptr<Trainer>> t = Make(extra, dir);
    EXPECT_THAT(t, IsOk());
    if (t.ok()) {
      EXPECT_THAT((*t)->Run(), IsOk());
    }
    return dir;
  }
  static bool Empty(const std::string& dir) { return std::filesystem::is_empty(dir); }
};

// Each setting that changes the numbers stops the resume, naming the field and both values.
TEST_F(ResumeAdversarial, ChangedSettingIsRefusedNamingTheField) {
  const std::vector<std::string> dqt = {"quant.optimizer=DQT", "quant.weight_format=INTEGER",
                                        "quant.weight_bits=8"};
  const std::string dir = Trained("resume_adv_settings", dqt);
  const std::string from = "checkpoint.resume=" + dir + "/step_000002";
  const struct {
    const char* set;
    const char* message;
  } cases[] = {
      {"model.seed=99", "model.seed is 1234 in the checkpoint but 99 in this config"},
      {"quant.int8_activations=true", "quant.int8_activations is false in the checkpoint but true"},
      {"quant.recompute_scale=true", "quant.recompute_scale is false in the checkpoint but true"},
      {"quant.forward_gemm=GEMM_INT8", "quant.forward_gemm is GEMM_FLOAT in the checkpoint"},
      {"optimizer.lr=0.02", "optimizer.lr is 0.00999999978 in the checkpoint but 0.0199999996"},
      {"data.seed=7", "data.seed is 1 in the checkpoint but 7"},
      {"train.micro_batch=2", "train.micro_batch*train.grad_accum*parallel.dp is 8 in the"},
      {"model.rope_theta=500000", "model.rope_theta is 10000 in the checkpoint but 500000"},
  };
  for (const auto& c : cases) {
    const std::string out = Fresh("resume_adv_settings_b");
    std::vector<std::string> extra = dqt;
    extra.insert(extra.end(), {from, c.set});
    const absl::Status status = Make(extra, out).status();
    EXPECT_THAT(status, StatusIs(absl::StatusCode::kInvalidArgument, c.message)) << c.set;
    EXPECT_THAT(std::string(status.message()),
                ::testing::HasSubstr("checkpoint.init_from=" + dir + "/step_000002"));
    EXPECT_TRUE(Empty(out)) << c.set;
  }
  // The same micro-batches accumulated differently keep the global batch: allowed.
  std::vector<std::string> same = dqt;
  same.insert(same.end(), {from, "train.grad_accum=1", "train.micro_batch=8"});
  EXPECT_THAT(Make(same, Fresh("resume_adv_settings_c")), IsOk());
}

// train.steps below the checkpoint's step would evaluate the later model under the earlier step
// and write step_000002 holding step-4 state.
TEST_F(ResumeAdversarial, StepsBelowTheCheckpointIsRefused) {
  const std::string dir = Trained("resume_adv_steps");
  const std::string out = Fresh("resume_adv_steps_b");
  EXPECT_THAT(Make({"train.steps=2", "checkpoint.resume=" + dir + "/step_000004"}, out),
              StatusIs(absl::StatusCode::kInvalidArgument, "at step 4 but train.steps = 2"));
  EXPECT_TRUE(Empty(out));
}

// A step directory without a manifest: "latest" would skip it and the run die writing that step.
TEST_F(ResumeAdversarial, IncompleteStepDirectoryIsReportedUpFront) {
  const std::string dir = Trained("resume_adv_incomplete");
  std::filesystem::create_directories(dir + "/step_000006");
  EXPECT_THAT(Make({"train.steps=6", "checkpoint.resume=latest"}, dir),
              StatusIs(absl::StatusCode::kFailedPrecondition, dir + "/step_000006"));
  EXPECT_FALSE(std::filesystem::exists(dir + "/step_000006/manifest.txt"));
}

// An unwritable checkpoint.dir is found at start, not at the first checkpoint after the run.
TEST_F(ResumeAdversarial, UnwritableCheckpointDirIsFoundAtStart) {
  const std::string file = Fresh("resume_adv_unwritable") + "/a_file";
  std::ofstream(file) << "not a directory\n";
  EXPECT_THAT(Make({"checkpoint.every=0"}, file + "/ckpt"),
              StatusIs(absl::StatusCode::kPermissionDenied, "is not writable on rank 0 of 1"));
}

// A forged data position is an error naming it, not an abort inside the sampler.
TEST_F(ResumeAdversarial, ForgedSamplesConsumedIsAnError) {
  const std::string dir = Trained("resume_adv_forged");
  const std::string manifest = dir + "/step_000002/manifest.txt";
  std::ifstream in(manifest, std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  in.close();
  const size_t at = text.find("meta samples_consumed ");
  ASSERT_NE(at, std::string::npos);
  for (const char* forged : {"18446744073709551615", "41"}) {
    std::string body = text.substr(0, text.rfind("manifest_xxh64"));
    const size_t value = at + std::string("meta samples_consumed ").size();
    body.replace(value, body.find('\n', value) - value, forged);
    char checksum[17];
    std::snprintf(checksum, sizeof(checksum), "%016llx",
                  static_cast<unsigned long long>(XXH64(body.data(), body.size(), 0)));
    std::ofstream(manifest, std::ios::binary | std::ios::trunc)
        << body << "manifest_xxh64 " << checksum << "\n";
    EXPECT_THAT(Make({"checkpoint.resume=" + dir + "/step_000002"}, Fresh("resume_adv_forged_b")),
                StatusIs(absl::StatusCode::kDataLoss, std::string("samples_consumed ") + forged))
        << forged;
  }
}

// Temporary directories of unfinished writes go at the next checkpoint, also with keep_last 0.
TEST_F(ResumeAdversarial, StaleTemporaryDirectoriesAreRemovedWithKeepLastZero) {
  const std::string dir = Fresh("resume_adv_tmp");
  std::filesystem::create_directories(dir + "/.step_000003.tmp.12345");
  absl::StatusOr<std::unique_ptr<Trainer>> t =
      Make({"train.steps=2", "checkpoint.every=0", "checkpoint.keep_last=0"}, dir);
  ASSERT_THAT(t, IsOk());
  ASSERT_THAT((*t)->Run(), IsOk());
  EXPECT_FALSE(std::filesystem::exists(dir + "/.step_000003.tmp.12345"));
  EXPECT_TRUE(std::filesystem::exists(dir + "/step_000002/manifest.txt"));
}

}  // namespace
}  // namespace dqt
