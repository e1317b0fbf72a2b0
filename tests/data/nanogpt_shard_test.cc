// nanoGPT's header-less token files (raw uint16, read only with TokenFormat::kRawUint16), glob
// lists, the file and byte offset of a token, and a list of dqt / llm.c / nanoGPT files streamed
// as one dataset through the deterministic sampler over several epochs.
#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "data/sampler.h"
#include "data/token_shard.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/token_files.h"

namespace dqt {
namespace {

using ::dqt::testing::IsOk;
using ::dqt::testing::StatusIs;
using ::dqt::testing::WriteLlmcGpt2File;
using ::dqt::testing::WriteNanoGptFile;

std::vector<int32_t> Tokens(int n, int salt) {
  std::vector<int32_t> t;
  for (int i = 0; i < n; ++i) t.push_back(static_cast<int32_t>((i * 7919 + salt) % 50257));
  return t;
}

std::vector<int32_t> ReadAll(const TokenShard& shard) {
  std::vector<int32_t> out(shard.size());
  if (!out.empty()) shard.Copy(0, out.size(), out.data());
  return out;
}

TEST(NanoGptShardTest, RawFilesAreReadOnlyWhenAsked) {
  const std::string dir = ::testing::TempDir();
  const std::vector<int32_t> tokens = Tokens(300, 1);
  WriteNanoGptFile(dir + "/train.bin", tokens);
  // No header to recognise: refused by default, with the way out in the message.
  EXPECT_THAT(TokenShard::Open(dir + "/train.bin"),
              StatusIs(absl::StatusCode::kInvalidArgument, "data.token_format: RAW_UINT16"));
  absl::StatusOr<TokenShard> raw = TokenShard::Open(dir + "/train.bin", TokenFormat::kRawUint16);
  ASSERT_THAT(raw, IsOk());
  EXPECT_EQ(raw->bytes_per_token(), 2u);
  EXPECT_EQ(raw->source_bytes(), 0u);  // no text size: no bits per byte
  EXPECT_FALSE(raw->tokenizer().recorded());
  EXPECT_EQ(ReadAll(*raw), tokens);
  EXPECT_EQ((*raw)[299], tokens[299]);

  // Files with a header are still read by it under kRawUint16 (the header is not taken as ids).
  WriteLlmcGpt2File(dir + "/llmc.bin", tokens);
  ASSERT_THAT(WriteTokenShard(dir + "/dqt.bin", tokens, 1000), IsOk());
  for (const char* name : {"/llmc.bin", "/dqt.bin"}) {
    absl::StatusOr<TokenShard> s = TokenShard::Open(dir + name, TokenFormat::kRawUint16);
    ASSERT_THAT(s, IsOk());
    EXPECT_EQ(ReadAll(*s), tokens) << name;
  }

  // A raw file whose first ids spell llm.c's magic and version (20240520 = 0x0134D888: ids
  // 55432, 308; then 1, 0) but whose "count" disagrees with its size is raw under kRawUint16.
  // (55432 is no GPT-2 id, so only a larger vocabulary's file can start like this.)
  std::vector<int32_t> spelled = {55432, 308, 1, 0, 5, 0, 7, 8, 9, 10};
  WriteNanoGptFile(dir + "/spelled.bin", spelled);
  absl::StatusOr<TokenShard> s = TokenShard::Open(dir + "/spelled.bin", TokenFormat::kRawUint16);
  ASSERT_THAT(s, IsOk());
  EXPECT_EQ(ReadAll(*s), spelled);
  // By default the magic makes it an llm.c file, which it is not: a clear error.
  EXPECT_THAT(TokenShard::Open(dir + "/spelled.bin"),
              StatusIs(absl::StatusCode::kDataLoss, "1024-byte header"));

  // An empty raw file is an empty dataset part.
  WriteNanoGptFile(dir + "/empty.bin", {});
  absl::StatusOr<TokenShard> empty = TokenShard::Open(dir + "/empty.bin", TokenFormat::kRawUint16);
  ASSERT_THAT(empty, IsOk());
  EXPECT_EQ(empty->size(), 0u);
}

TEST(NanoGptShardTest, BadInputIsAClearError) {
  const std::string dir = ::testing::TempDir();
  {
    std::ofstream out(dir + "/odd.bin", std::ios::binary | std::ios::trunc);
    out << "abcde";
  }
  EXPECT_THAT(TokenShard::Open(dir + "/odd.bin", TokenFormat::kRawUint16),
              StatusIs(absl::StatusCode::kDataLoss, "odd.bin: 5 bytes, an odd length"));
  // Bytes that are no known header (a text file named .bin): refused, naming what was expected.
  {
    std::ofstream out(dir + "/text.bin", std::ios::binary | std::ios::trunc);
    out << "Emma Woodhouse, handsome, clever, and rich";
  }
  EXPECT_THAT(TokenShard::Open(dir + "/text.bin"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "bad magic: its first bytes are neither \"DQTSHARD\" nor llm.c's"));
  // A truncated llm.c header (the magic, then nothing) is an error in both modes.
  {
    std::ofstream out(dir + "/cut.bin", std::ios::binary | std::ios::trunc);
    const uint32_t magic = kLlmcMagicGpt2;
    out.write(reinterpret_cast<const char*>(&magic), 4);
  }
  EXPECT_THAT(TokenShard::Open(dir + "/cut.bin"),
              StatusIs(absl::StatusCode::kDataLoss, "1024-byte header"));
  // In a list the failing part is named.
  WriteNanoGptFile(dir + "/good.bin", Tokens(10, 2));
  EXPECT_THAT(TokenShard::Open(dir + "/good.bin," + dir + "/odd.bin", TokenFormat::kRawUint16),
              StatusIs(absl::StatusCode::kDataLoss, "odd.bin"));
}

TEST(NanoGptShardTest, GlobItemsStandForTheirMatchesInSortedOrder) {
  const std::string dir = ::testing::TempDir() + "/glob";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const std::vector<int32_t> a = Tokens(40, 3), b = Tokens(50, 4), c = Tokens(60, 5);
  // Written out of order; llm.c names its shards like these.
  WriteNanoGptFile(dir + "/fineweb_train_000002.bin", c);
  WriteLlmcGpt2File(dir + "/fineweb_train_000001.bin", b);
  ASSERT_THAT(WriteTokenShard(dir + "/fineweb_train_000000.bin", a, 100), IsOk());
  WriteNanoGptFile(dir + "/fineweb_val_000000.bin", Tokens(7, 6));
  absl::StatusOr<TokenShard> all =
      TokenShard::Open(dir + "/fineweb_train_*.bin", TokenFormat::kRawUint16);
  ASSERT_THAT(all, IsOk());
  std::vector<int32_t> expected = a;
  expected.insert(expected.end(), b.begin(), b.end());
  expected.insert(expected.end(), c.begin(), c.end());
  EXPECT_EQ(ReadAll(*all), expected);
  // Globs and plain names mix in one list, in the order given.
  absl::StatusOr<TokenShard> mixed =
      TokenShard::Open(dir + "/fineweb_train_00000[12].bin," + dir + "/fineweb_train_000000.bin",
                       TokenFormat::kRawUint16);
  ASSERT_THAT(mixed, IsOk());
  std::vector<int32_t> reordered(expected.begin() + 40, expected.end());
  reordered.insert(reordered.end(), a.begin(), a.end());
  EXPECT_EQ(ReadAll(*mixed), reordered);
  EXPECT_THAT(TokenShard::Open(dir + "/nothing_*.bin"),
              StatusIs(absl::StatusCode::kNotFound, "nothing_*.bin: the pattern matches no file"));
}

// The file and byte offset of each token of a dqt + llm.c + raw list.
TEST(NanoGptShardTest, WhereNamesThePartAndTheByteOffset) {
  const std::string dir = ::testing::TempDir();
  ASSERT_THAT(WriteTokenShard(dir + "/w0.bin", Tokens(10, 7), 50), IsOk());
  WriteLlmcGpt2File(dir + "/w1.bin", Tokens(20, 8));
  WriteNanoGptFile(dir + "/w2.bin", Tokens(30, 9));
  absl::StatusOr<TokenShard> all = TokenShard::Open(
      dir + "/w0.bin," + dir + "/w1.bin," + dir + "/w2.bin", TokenFormat::kRawUint16);
  ASSERT_THAT(all, IsOk());
  EXPECT_EQ(all->Where(3), dir + "/w0.bin, token 3 (byte offset 70)");     // 64 + 2 * 3
  EXPECT_EQ(all->Where(15), dir + "/w1.bin, token 5 (byte offset 1034)");  // 1024 + 2 * 5
  EXPECT_EQ(all->Where(59), dir + "/w2.bin, token 29 (byte offset 58)");   // 2 * 29
}

// Three files of three formats (window boundaries fall inside and across them) streamed as one
// dataset: each epoch visits every window exactly once, so every token up to the last whole
// window, in an order fixed by the seed that changes from epoch to epoch.
TEST(NanoGptShardTest, SeveralFormatsAreOneDatasetOverEpochs) {
  const std::string dir = ::testing::TempDir();
  const std::vector<int32_t> p0 = Tokens(101, 10), p1 = Tokens(77, 11), p2 = Tokens(150, 12);
  ASSERT_THAT(WriteTokenShard(dir + "/e0.bin", p0, 400), IsOk());
  WriteLlmcGpt2File(dir + "/e1.bin", p1);
  WriteNanoGptFile(dir + "/e2.bin", p2);
  const std::string list = dir + "/e0.bin," + dir + "/e1.bin," + dir + "/e2.bin";
  absl::StatusOr<TokenShard> data = TokenShard::Open(list, TokenFormat::kRawUint16);
  ASSERT_THAT(data, IsOk());
  std::vector<int32_t> all = p0;
  all.insert(all.end(), p1.begin(), p1.end());
  all.insert(all.end(), p2.begin(), p2.end());
  ASSERT_EQ(data->size(), all.size());  // 328 tokens

  const int seq = 16;
  absl::StatusOr<SequenceSampler> sampler = SequenceSampler::Create(data->size(), seq, 42, 0, 1);
  absl::StatusOr<SequenceSampler> again = SequenceSampler::Create(data->size(), seq, 42, 0, 1);
  absl::StatusOr<SequenceSampler> other = SequenceSampler::Create(data->size(), seq, 43, 0, 1);
  ASSERT_THAT(sampler, IsOk());
  ASSERT_THAT(again, IsOk());
  ASSERT_THAT(other, IsOk());
  const uint64_t windows = sampler->windows_per_rank();
  ASSERT_EQ(windows, (all.size() - 1) / seq);  // 20 windows; tokens 321.. never in one
  std::vector<std::vector<uint64_t>> orders;
  bool other_differs = false;
  for (uint64_t epoch = 0; epoch < 3; ++epoch) {
    std::vector<uint64_t> order;
    std::vector<int> visits(all.size(), 0);
    for (uint64_t k = 0; k < windows; ++k) {
      const uint64_t i = epoch * windows + k;
      const uint64_t start = sampler->StartOf(i);
      EXPECT_EQ(again->StartOf(i), start);  // same seed, same order
      other_differs = other_differs || other->StartOf(i) != start;
      order.push_back(start);
      std::vector<int32_t> window(seq + 1);
      data->Copy(start, window.size(), window.data());
      ASSERT_TRUE(std::equal(window.begin(), window.end(), all.begin() + start)) << start;
      for (int j = 0; j <= seq; ++j) ++visits[start + j];
    }
    for (size_t t = 0; t < all.size(); ++t) {
      if (t <= windows * seq) {
        EXPECT_GE(visits[t], 1) << "epoch " << epoch << " token " << t;
      } else {
        EXPECT_EQ(visits[t], 0) << "epoch " << epoch << " token " << t;
      }
    }
    std::vector<uint64_t> sorted = order;
    std::sort(sorted.begin(), sorted.end());
    for (uint64_t w = 0; w < windows; ++w) EXPECT_EQ(sorted[w], w * seq);  // each window once
    orders.push_back(order);
  }
  EXPECT_NE(orders[0], orders[1]);
  EXPECT_NE(orders[1], orders[2]);
  EXPECT_TRUE(other_differs);
}

}  // namespace
}  // namespace dqt
