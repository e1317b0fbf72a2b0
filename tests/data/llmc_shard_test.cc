// llm.c token files read as they are: the 1024-byte header (magic, version, count) with uint16
// (GPT-2) or uint32 (LLaMA-3) tokens; bad headers are clear errors; and a run trained on an
// llm.c copy of a dqt shard is the same run, bit for bit.
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/train/trainer.h"
#include "data/token_shard.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "launch/config.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/text_shards.h"

namespace dqt {
namespace {

using ::dqt::testing::IsOk;
using ::dqt::testing::StatusIs;

// Writes an llm.c file: int32 header[256] = {magic, version, count, 0...}, then the tokens.
void WriteLlmc(const std::string& path, uint32_t magic, uint32_t version,
               const std::vector<uint32_t>& tokens, int width, int64_t claimed = -1) {
  std::vector<int32_t> header(256, 0);
  header[0] = static_cast<int32_t>(magic);
  header[1] = static_cast<int32_t>(version);
  header[2] = static_cast<int32_t>(claimed >= 0 ? claimed : tokens.size());
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(header.data()), 1024);
  for (uint32_t t : tokens) {
    if (width == 2) {
      const uint16_t v = static_cast<uint16_t>(t);
      out.write(reinterpret_cast<const char*>(&v), 2);
    } else {
      out.write(reinterpret_cast<const char*>(&t), 4);
    }
  }
}

TEST(LlmcShardTest, ReadsGpt2AndLlama3Files) {
  const std::string dir = ::testing::TempDir();
  const std::vector<uint32_t> gpt2 = {50256, 15496, 995, 0, 65535};
  WriteLlmc(dir + "/gpt2.bin", kLlmcMagicGpt2, 1, gpt2, 2);
  absl::StatusOr<TokenShard> a = TokenShard::Open(dir + "/gpt2.bin");
  ASSERT_THAT(a, IsOk());
  ASSERT_EQ(a->size(), gpt2.size());
  EXPECT_EQ(a->bytes_per_token(), 2u);
  EXPECT_EQ(a->source_bytes(), 0u);
  for (size_t i = 0; i < gpt2.size(); ++i) EXPECT_EQ((*a)[i], static_cast<int32_t>(gpt2[i]));

  const std::vector<uint32_t> llama3 = {128000, 9906, 1917, 128001};
  WriteLlmc(dir + "/llama3.bin", kLlmcMagicLlama3, 7, llama3, 4);
  absl::StatusOr<TokenShard> b = TokenShard::Open(dir + "/llama3.bin");
  ASSERT_THAT(b, IsOk());
  std::vector<int32_t> got(llama3.size());
  b->Copy(0, got.size(), got.data());
  EXPECT_EQ(got, std::vector<int32_t>(llama3.begin(), llama3.end()));
}

TEST(LlmcShardTest, BadHeadersAreErrors) {
  const std::string dir = ::testing::TempDir();
  WriteLlmc(dir + "/v2.bin", kLlmcMagicGpt2, 2, {1, 2}, 2);
  EXPECT_THAT(TokenShard::Open(dir + "/v2.bin"),
              StatusIs(absl::StatusCode::kInvalidArgument, "version 2"));
  WriteLlmc(dir + "/lies.bin", kLlmcMagicGpt2, 1, {1, 2, 3}, 2, /*claimed=*/4);
  EXPECT_THAT(TokenShard::Open(dir + "/lies.bin"),
              StatusIs(absl::StatusCode::kDataLoss, "header says 4 tokens"));
  {
    std::ofstream out(dir + "/short.bin", std::ios::binary);
    const int32_t magic = kLlmcMagicGpt2, version = 1;
    out.write(reinterpret_cast<const char*>(&magic), 4);
    out.write(reinterpret_cast<const char*>(&version), 4);
  }
  EXPECT_THAT(TokenShard::Open(dir + "/short.bin"),
              StatusIs(absl::StatusCode::kDataLoss, "1024-byte header"));
}

TEST(LlmcShardTest, TrainingOnAnLlmcCopyIsTheSameRun) {
  if (!std::filesystem::exists(testing::DataPath("gutenberg_train.txt"))) {
    GTEST_SKIP() << "needs launch/fetch_data.sh";
  }
  const std::string train = testing::MakeTextShard("gutenberg_train.txt", 60000, "llmc_train.bin");
  const std::string eval = testing::MakeTextShard("gutenberg_heldout.txt", 8000, "llmc_eval.bin");
  auto to_llmc = [](const std::string& path) {
    absl::StatusOr<TokenShard> shard = TokenShard::Open(path);
    std::vector<uint32_t> tokens(shard->size());
    for (uint64_t i = 0; i < shard->size(); ++i) tokens[i] = static_cast<uint32_t>((*shard)[i]);
    WriteLlmc(path + ".llmc", kLlmcMagicGpt2, 1, tokens, 2);
    return path + ".llmc";
  };
  const char* src = std::getenv("DQT_SOURCE_DIR");
  auto run = [&](const std::string& train_shard, const std::string& eval_shard) {
    absl::StatusOr<proto::RunProto> proto =
        LoadRunProto(std::string(src ? src : ".") + "/launch/configs/tiny.pbtxt",
                     {"data.train_shard=" + train_shard, "data.eval_shard=" + eval_shard,
                      "train.steps=6", "train.eval_every=0", "checkpoint.every=0"});
    EXPECT_THAT(proto, IsOk());
    absl::StatusOr<std::unique_ptr<Trainer>> trainer = Trainer::Create(ToRunConfig(*proto));
    EXPECT_THAT(trainer, IsOk());
    EXPECT_THAT((*trainer)->Run(), IsOk());
    return std::move(*trainer);
  };
  std::unique_ptr<Trainer> a = run(train, eval);
  std::unique_ptr<Trainer> b = run(to_llmc(train), to_llmc(eval));
  ASSERT_EQ(a->step_losses().size(), 6u);
  EXPECT_EQ(a->step_losses(), b->step_losses());
  ASSERT_TRUE(a->final_eval().has_value() && b->final_eval().has_value());
  EXPECT_EQ(a->final_eval()->loss, b->final_eval()->loss);
  EXPECT_EQ(b->final_eval()->bits_per_byte, 0.0);  // llm.c files do not record text bytes
}

}  // namespace
}  // namespace dqt
