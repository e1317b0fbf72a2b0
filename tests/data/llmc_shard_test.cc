// llm.c token files read as they are: the 1024-byte header (magic, version, count) with uint16
// (GPT-2) or uint32 (LLaMA-3) tokens; bad headers are clear errors; several files (of either
// format) stream as one dataset; and a run trained on an llm.c copy of a dqt shard, or on the
// same tokens split over three files, is the same run, bit for bit.
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "core/train/trainer.h"
#include "data/token_shard.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "launch/config.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/text_shards.h"
#include "tests/testing/tiny_run.h"

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

// A damaged count field: the error states it as the unsigned number on disk and the size it
// implies, not an overflowed (negative) count.
TEST(TokenShardAdversarial, HugeCountsArePrintedAsTheyAre) {
  const std::string dir = ::testing::TempDir();
  WriteLlmc(dir + "/huge.bin", kLlmcMagicGpt2, 1, {1, 2, 3}, 2, /*claimed=*/0xFFFFFFFFll);
  EXPECT_THAT(TokenShard::Open(dir + "/huge.bin"),
              StatusIs(absl::StatusCode::kDataLoss,
                       "header says 4294967295 tokens x 2 bytes + 1024 = 8589935614"));
  const std::string path = dir + "/huge_dqt.bin";
  ASSERT_THAT(WriteTokenShard(path, std::vector<int32_t>{1, 2, 3}, 9), IsOk());
  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  in.close();
  for (int i = 16; i < 24; ++i) bytes[i] = static_cast<char>(0xFF);  // the uint64 token count
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
  EXPECT_THAT(TokenShard::Open(path),
              StatusIs(absl::StatusCode::kDataLoss,
                       "header says 18446744073709551615 tokens x 2 bytes + 64 = more than 2^64"));
}

TEST(LlmcShardTest, SeveralFilesAreOneDataset) {
  const std::string dir = ::testing::TempDir();
  std::vector<int32_t> all;
  for (int i = 0; i < 700; ++i) all.push_back((i * 7919) % 50257);
  // dqt shard, llm.c file, empty dqt shard, dqt shard.
  ASSERT_THAT(WriteTokenShard(dir + "/p0.bin", std::span(all).subspan(0, 100), 400), IsOk());
  WriteLlmc(dir + "/p1.bin", kLlmcMagicGpt2, 1,
            std::vector<uint32_t>(all.begin() + 100, all.begin() + 350), 2);
  ASSERT_THAT(WriteTokenShard(dir + "/p2.bin", {}, 0), IsOk());
  ASSERT_THAT(WriteTokenShard(dir + "/p3.bin", std::span(all).subspan(350), 900), IsOk());
  const std::string list = dir + "/p0.bin," + dir + "/p1.bin," + dir + "/p2.bin," + dir + "/p3.bin";
  absl::StatusOr<TokenShard> shard = TokenShard::Open(list);
  ASSERT_THAT(shard, IsOk());
  ASSERT_EQ(shard->size(), all.size());
  EXPECT_EQ(shard->source_bytes(), 0u);  // the llm.c part does not know its text's size
  for (size_t i = 0; i < all.size(); ++i) ASSERT_EQ((*shard)[i], all[i]) << i;
  for (uint64_t start : {0, 90, 99, 100, 340, 349, 350, 600}) {
    std::vector<int32_t> got(100);
    shard->Copy(start, got.size(), got.data());
    ASSERT_EQ(got, std::vector<int32_t>(all.begin() + start, all.begin() + start + 100)) << start;
  }
  absl::StatusOr<TokenShard> known = TokenShard::Open(dir + "/p0.bin," + dir + "/p3.bin");
  ASSERT_THAT(known, IsOk());
  EXPECT_EQ(known->source_bytes(), 1300u);
  EXPECT_THAT(TokenShard::Open(dir + "/p0.bin," + dir + "/none.bin"),
              StatusIs(absl::StatusCode::kNotFound, "none.bin"));
  EXPECT_THAT(TokenShard::Open(dir + "/p0.bin,"),
              StatusIs(absl::StatusCode::kInvalidArgument, "an empty name"));
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
  auto run = [&](const std::string& train_shard, const std::string& eval_shard) {
    absl::StatusOr<proto::RunProto> proto =
        testing::TinyRunProto({"data.train_shard=" + train_shard, "data.eval_shard=" + eval_shard,
                               "train.steps=6", "train.eval_every=0", "checkpoint.every=0"});
    EXPECT_THAT(proto, IsOk());
    absl::StatusOr<std::unique_ptr<Trainer>> trainer = Trainer::Create(ToRunConfig(*proto));
    EXPECT_THAT(trainer, IsOk());
    EXPECT_THAT((*trainer)->Run(), IsOk());
    return std::move(*trainer);
  };
  std::unique_ptr<Trainer> a = run(train, eval);
  std::unique_ptr<Trainer> b = run(to_llmc(train), to_llmc(eval));
  // The same tokens as three files (dqt, llm.c, dqt) streamed as one dataset: the same run.
  std::string parts;
  {
    absl::StatusOr<TokenShard> shard = TokenShard::Open(train);
    std::vector<int32_t> tokens(shard->size());
    shard->Copy(0, tokens.size(), tokens.data());
    const size_t third = tokens.size() / 3;
    ASSERT_THAT(WriteTokenShard(train + ".a", std::span(tokens).subspan(0, third), 1), IsOk());
    WriteLlmc(train + ".b", kLlmcMagicGpt2, 1,
              std::vector<uint32_t>(tokens.begin() + third, tokens.begin() + 2 * third), 2);
    ASSERT_THAT(WriteTokenShard(train + ".c", std::span(tokens).subspan(2 * third), 1), IsOk());
    parts = train + ".a," + train + ".b," + train + ".c";
  }
  std::unique_ptr<Trainer> c = run(parts, eval);
  EXPECT_EQ(a->step_losses(), c->step_losses());
  ASSERT_EQ(a->step_losses().size(), 6u);
  EXPECT_EQ(a->step_losses(), b->step_losses());
  ASSERT_TRUE(a->final_eval().has_value() && b->final_eval().has_value());
  EXPECT_EQ(a->final_eval()->loss, b->final_eval()->loss);
  EXPECT_FALSE(b->final_eval()->bits_per_byte.has_value());  // llm.c files record no text size
}

}  // namespace
}  // namespace dqt
