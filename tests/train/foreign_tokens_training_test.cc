// Training end to end on token files made by other projects, written here from real corpus
// tokens: an llm.c GPT-2 file and nanoGPT's header-less uint16 file (data.token_format
// RAW_UINT16) train a DQT 8-bit model whose loss falls and whose codes move, the two runs being
// the same run bit for bit; and a run on a dqt + llm.c + nanoGPT list resumed from a checkpoint
// across file and epoch boundaries equals the uninterrupted run bit for bit.
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "core/train/data_parallel.h"
#include "core/train/trainer.h"
#include "gtest/gtest.h"
#include "launch/config.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/text_shards.h"
#include "tests/testing/tiny_run.h"
#include "tests/testing/token_files.h"

namespace dqt {
namespace {

using testing::IsOk;

std::vector<int32_t> TokensOf(const std::string& shard_path) {
  absl::StatusOr<TokenShard> shard = TokenShard::Open(shard_path);
  EXPECT_THAT(shard, IsOk());
  if (!shard.ok()) return {};
  std::vector<int32_t> tokens(shard->size());
  shard->Copy(0, tokens.size(), tokens.data());
  return tokens;
}

const std::vector<std::string> kDqt8 = {"quant.optimizer=DQT", "quant.weight_format=INTEGER",
                                        "quant.weight_bits=8", "quant.int8_activations=true"};

absl::StatusOr<std::unique_ptr<Trainer>> MakeTrainer(const std::vector<std::string>& extra) {
  std::vector<std::string> overrides = {"optimizer.lr=1e-2", "train.eval_every=0"};
  overrides.insert(overrides.end(), kDqt8.begin(), kDqt8.end());
  overrides.insert(overrides.end(), extra.begin(), extra.end());
  return testing::TinyTrainer(overrides);
}

// The codes of the quantized (linear) tensors.
std::vector<int8_t> Codes(const LlamaParams& p) {
  std::vector<int8_t> out;
  for (const ParamTensor& t : p.tensors()) {
    if (t.storage != ParamStorage::kCodes) continue;
    const int8_t* c = p.codes().data() + t.code_offset;
    out.insert(out.end(), c, c + t.numel);
  }
  return out;
}

double Mean(const std::vector<double>& v, size_t from, size_t to) {
  double s = 0;
  for (size_t i = from; i < to; ++i) s += v[i];
  return s / static_cast<double>(to - from);
}

TEST(ForeignTokensTraining, LlmcAndNanoGptFilesTrainAQuantizedModel) {
  const std::string dir = ::testing::TempDir();
  const std::vector<int32_t> train =
      TokensOf(testing::MakeTextShard("gutenberg_train.txt", 120000, "f_train.bin"));
  const std::vector<int32_t> eval =
      TokensOf(testing::MakeTextShard("gutenberg_heldout.txt", 20000, "f_eval.bin"));
  ASSERT_GT(train.size(), 20000u);
  testing::WriteLlmcGpt2File(dir + "/f_train_llmc.bin", train);
  testing::WriteLlmcGpt2File(dir + "/f_eval_llmc.bin", eval);
  testing::WriteNanoGptFile(dir + "/f_train_nanogpt.bin", train);
  testing::WriteNanoGptFile(dir + "/f_eval_nanogpt.bin", eval);
  const int steps = 40;
  auto run = [&](const std::string& kind, const std::vector<std::string>& extra) {
    std::vector<std::string> overrides = {"data.train_shard=" + dir + "/f_train_" + kind + ".bin",
                                          "data.eval_shard=" + dir + "/f_eval_" + kind + ".bin",
                                          "train.steps=" + std::to_string(steps)};
    overrides.insert(overrides.end(), extra.begin(), extra.end());
    absl::StatusOr<std::unique_ptr<Trainer>> t = MakeTrainer(overrides);
    EXPECT_THAT(t, IsOk());
    return t.ok() ? std::move(*t) : nullptr;
  };
  // Without data.token_format the header-less file is refused (the message names the option).
  absl::StatusOr<std::unique_ptr<Trainer>> refused =
      MakeTrainer({"data.train_shard=" + dir + "/f_train_nanogpt.bin",
                   "data.eval_shard=" + dir + "/f_eval_nanogpt.bin"});
  EXPECT_THAT(refused, testing::StatusIs(absl::StatusCode::kInvalidArgument, "RAW_UINT16"));

  std::unique_ptr<Trainer> init = run("llmc", {});  // never run: the initial codes
  std::unique_ptr<Trainer> llmc = run("llmc", {});
  std::unique_ptr<Trainer> nanogpt = run("nanogpt", {"data.token_format=RAW_UINT16"});
  ASSERT_TRUE(init && llmc && nanogpt);
  ASSERT_THAT(llmc->Run(), IsOk());
  ASSERT_THAT(nanogpt->Run(), IsOk());
  const std::vector<double>& losses = llmc->step_losses();
  ASSERT_EQ(losses.size(), static_cast<size_t>(steps));
  EXPECT_EQ(nanogpt->step_losses(), losses);  // the same tokens: the same run, bit for bit
  ASSERT_TRUE(llmc->final_eval().has_value() && nanogpt->final_eval().has_value());
  EXPECT_EQ(nanogpt->final_eval()->loss, llmc->final_eval()->loss);
  EXPECT_FALSE(nanogpt->final_eval()->bits_per_byte.has_value());  // no text size recorded

  const double last = Mean(losses, steps - 5, steps);
  const std::vector<int8_t> before = Codes(init->model().params());
  const std::vector<int8_t> after = Codes(llmc->model().params());
  ASSERT_EQ(before.size(), after.size());
  ASSERT_GT(before.size(), 0u);
  size_t changed = 0;
  for (size_t i = 0; i < before.size(); ++i) changed += before[i] != after[i];
  const double fraction = static_cast<double>(changed) / before.size();
  std::printf("step 0 loss %.3f, last-5 mean %.3f, held-out %.3f, codes changed %.3f\n", losses[0],
              last, llmc->final_eval()->loss, fraction);
  // Measured on this tree: 10.835 -> 6.931 (held-out 7.459), codes changed 0.905; the margins
  // are under half of that.
  EXPECT_LT(last, losses[0] - 1.5);
  EXPECT_LT(llmc->final_eval()->loss, losses[0] - 1.5);
  EXPECT_GT(fraction, 0.4);  // the quantized layers learn, not only the fp32 embeddings
}

// 40 + 17 + 543 tokens in three formats: 37 windows of 16 + 1 per epoch, 8 windows a step, so
// the checkpoint at step 5 (sample 40) is in epoch 1 and the resumed steps cross into epoch 2
// at sample 74; windows span the file boundaries.
TEST(ForeignTokensTraining, ResumeAcrossFileAndEpochBoundariesIsBitExact) {
  const std::string dir = ::testing::TempDir() + "/foreign_resume";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir + "/a");
  std::filesystem::create_directories(dir + "/b");
  const std::vector<int32_t> tokens =
      TokensOf(testing::MakeTextShard("gutenberg_train.txt", 4000, "f_small.bin"));
  ASSERT_GE(tokens.size(), 600u);
  ASSERT_THAT(WriteTokenShard(dir + "/part0.bin", std::span(tokens).subspan(0, 40), 0), IsOk());
  testing::WriteLlmcGpt2File(dir + "/part1.bin",
                             std::vector<int32_t>(tokens.begin() + 40, tokens.begin() + 57));
  testing::WriteNanoGptFile(dir + "/part2.bin",
                            std::vector<int32_t>(tokens.begin() + 57, tokens.begin() + 600));
  testing::WriteNanoGptFile(dir + "/eval.bin",
                            std::vector<int32_t>(tokens.begin() + 600, tokens.end()));
  auto make = [&](const std::string& out, const std::string& resume) {
    std::vector<std::string> overrides = {"data.train_shard=" + dir + "/part*.bin",
                                          "data.eval_shard=" + dir + "/eval.bin",
                                          "data.token_format=RAW_UINT16",
                                          "train.steps=10",
                                          "checkpoint.dir=" + out,
                                          "checkpoint.every=5"};
    if (!resume.empty()) overrides.push_back("checkpoint.resume=" + resume);
    return MakeTrainer(overrides);
  };
  absl::StatusOr<std::unique_ptr<Trainer>> whole = make(dir + "/a", "");
  ASSERT_THAT(whole, IsOk());
  ASSERT_THAT((*whole)->Run(), IsOk());
  absl::StatusOr<std::unique_ptr<Trainer>> resumed = make(dir + "/b", dir + "/a/step_000005");
  ASSERT_THAT(resumed, IsOk());
  ASSERT_THAT((*resumed)->Run(), IsOk());
  ASSERT_EQ((*whole)->step_losses().size(), 10u);
  ASSERT_EQ((*resumed)->step_losses().size(), 5u);
  for (size_t i = 0; i < 5; ++i) {
    EXPECT_EQ((*resumed)->step_losses()[i], (*whole)->step_losses()[5 + i]) << i;
  }
  EXPECT_EQ(TensorDigests((*resumed)->model().params()), TensorDigests((*whole)->model().params()));
}

}  // namespace
}  // namespace dqt
