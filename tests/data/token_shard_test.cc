// Token shard files: round trips in both widths, the recorded tokenizer (and version-1 shards
// without one), and the errors for damaged or missing files.
#include "data/token_shard.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace dqt {
namespace {

using ::dqt::testing::IsOk;
using ::dqt::testing::StatusIs;

// Per-process scratch folder (other checkouts may run this test at the same time), removed
// when the program ends.
std::string ScratchDir() {
  return ::testing::TempDir() + "/token_shard_test." + std::to_string(::getpid());
}
class ScratchCleanup : public ::testing::Environment {
 public:
  void TearDown() override { std::filesystem::remove_all(ScratchDir()); }
};
::testing::Environment* const kScratchCleanup =
    ::testing::AddGlobalTestEnvironment(new ScratchCleanup);

std::string TempPath(const std::string& name) {
  std::filesystem::create_directories(ScratchDir());
  return ScratchDir() + "/" + name;
}

std::string ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void WriteBytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

std::vector<int32_t> Ramp(size_t n, int32_t scale) {
  std::vector<int32_t> tokens(n);
  for (size_t i = 0; i < n; ++i) tokens[i] = static_cast<int32_t>((i * 7919) % 50257) * scale;
  return tokens;
}

void ExpectRoundTrip(const std::vector<int32_t>& tokens, uint32_t expected_width) {
  const std::string path = TempPath("round_trip.bin");
  ASSERT_THAT(WriteTokenShard(path, tokens, 123456789), IsOk());
  EXPECT_EQ(std::filesystem::file_size(path), 64 + tokens.size() * expected_width);
  auto shard = TokenShard::Open(path);
  ASSERT_THAT(shard, IsOk());
  EXPECT_EQ(shard->size(), tokens.size());
  EXPECT_EQ(shard->source_bytes(), 123456789u);
  EXPECT_EQ(shard->bytes_per_token(), expected_width);
  for (size_t i = 0; i < tokens.size(); ++i) ASSERT_EQ((*shard)[i], tokens[i]) << "token " << i;
  std::vector<int32_t> window(1001, -1);
  shard->Copy(17, window.size(), window.data());
  for (size_t i = 0; i < window.size(); ++i) ASSERT_EQ(window[i], tokens[17 + i]) << "token " << i;
  // Moving keeps the mapping valid.
  TokenShard moved = std::move(shard).value();
  EXPECT_EQ(moved[tokens.size() - 1], tokens.back());
}

TEST(TokenShardTest, RoundTripUint16) {
  std::vector<int32_t> tokens = Ramp(100003, 1);
  tokens[5] = 65535;  // the largest id that still fits two bytes
  ExpectRoundTrip(tokens, 2);
}

TEST(TokenShardTest, RoundTripUint32) {
  std::vector<int32_t> tokens = Ramp(70001, 1);
  tokens[3] = 65536;
  tokens[4] = INT32_MAX;
  ExpectRoundTrip(tokens, 4);
}

TEST(TokenShardTest, EmptyShard) {
  const std::string path = TempPath("empty.bin");
  ASSERT_THAT(WriteTokenShard(path, {}, 0), IsOk());
  auto shard = TokenShard::Open(path);
  ASSERT_THAT(shard, IsOk());
  EXPECT_EQ(shard->size(), 0u);
}

TEST(TokenShardTest, NegativeTokenRejected) {
  const std::vector<int32_t> tokens = {1, 2, -3};
  EXPECT_THAT(WriteTokenShard(TempPath("negative.bin"), tokens, 3),
              StatusIs(absl::StatusCode::kInvalidArgument, "token 2 is -3"));
}

TEST(TokenShardTest, MissingFile) {
  const std::string path = TempPath("does_not_exist.bin");
  EXPECT_THAT(TokenShard::Open(path), StatusIs(absl::StatusCode::kNotFound, path));
}

TEST(TokenShardTest, TruncatedFile) {
  const std::string path = TempPath("truncated.bin");
  ASSERT_THAT(WriteTokenShard(path, Ramp(1000, 1), 5000), IsOk());
  const std::string bytes = ReadBytes(path);
  WriteBytes(path, bytes.substr(0, bytes.size() - 1));
  EXPECT_THAT(TokenShard::Open(path), StatusIs(absl::StatusCode::kDataLoss, "truncated"));
  WriteBytes(path, bytes.substr(0, 20));  // inside the header
  EXPECT_THAT(TokenShard::Open(path), StatusIs(absl::StatusCode::kDataLoss, path));
  WriteBytes(path, bytes + "xx");  // trailing garbage is damage too
  EXPECT_THAT(TokenShard::Open(path), StatusIs(absl::StatusCode::kDataLoss, "1000 tokens"));
}

TEST(TokenShardTest, BadHeaderFields) {
  const std::string path = TempPath("bad_header.bin");
  ASSERT_THAT(WriteTokenShard(path, Ramp(10, 1), 50), IsOk());
  const std::string bytes = ReadBytes(path);

  std::string bad_magic = bytes;
  bad_magic[0] = 'X';
  WriteBytes(path, bad_magic);
  EXPECT_THAT(TokenShard::Open(path), StatusIs(absl::StatusCode::kInvalidArgument, "bad magic"));

  std::string bad_version = bytes;
  bad_version[8] = 3;
  WriteBytes(path, bad_version);
  EXPECT_THAT(TokenShard::Open(path), StatusIs(absl::StatusCode::kInvalidArgument, "version 3"));

  std::string bad_kind = bytes;
  bad_kind[32] = 9;
  WriteBytes(path, bad_kind);
  EXPECT_THAT(TokenShard::Open(path), StatusIs(absl::StatusCode::kInvalidArgument, "kind 9"));

  std::string bad_width = bytes;
  bad_width[12] = 3;
  WriteBytes(path, bad_width);
  EXPECT_THAT(TokenShard::Open(path), StatusIs(absl::StatusCode::kInvalidArgument, "3 bytes"));

  WriteBytes(path, "");
  EXPECT_THAT(TokenShard::Open(path), StatusIs(absl::StatusCode::kInvalidArgument, "bad magic"));
}

TokenizerIdentity FakeTokenizer(TokenizerKind kind, uint8_t salt) {
  TokenizerIdentity id;
  id.kind = kind;
  id.vocab_size = 1000 + salt;
  for (size_t i = 0; i < id.digest.size(); ++i) id.digest[i] = static_cast<uint8_t>(salt + i);
  return id;
}

TEST(TokenShardTest, RecordsItsTokenizer) {
  const std::string path = TempPath("recorded.bin");
  const TokenizerIdentity spm = FakeTokenizer(TokenizerKind::kSentencePiece, 7);
  ASSERT_THAT(WriteTokenShard(path, Ramp(10, 1), 50, spm), IsOk());
  auto shard = TokenShard::Open(path);
  ASSERT_THAT(shard, IsOk());
  EXPECT_EQ(shard->tokenizer(), spm);
  EXPECT_EQ(shard->tokenizer().ToString(),
            "SentencePiece (vocab 1007, sha256 0708090a0b0c0d0e0f10111213141516)");
  ASSERT_THAT(WriteTokenShard(path, Ramp(10, 1), 50), IsOk());  // none given: unrecorded
  EXPECT_FALSE(TokenShard::Open(path)->tokenizer().recorded());
}

// A version-1 shard (40-byte header, written before tokenizers were recorded) reads as it did,
// with an unrecorded tokenizer.
TEST(TokenShardTest, ReadsVersionOneShards) {
  const std::string path = TempPath("v1.bin");
  const std::vector<int32_t> tokens = Ramp(1000, 1);
  ASSERT_THAT(WriteTokenShard(path, tokens, 777, FakeTokenizer(TokenizerKind::kGpt2Bpe, 1)),
              IsOk());
  std::string v1 = ReadBytes(path);
  v1[8] = 1;
  v1.erase(32, 64 - 32);                // drop the tokenizer fields
  v1.insert(32, std::string(8, '\0'));  // version 1's reserved u64
  WriteBytes(path, v1);
  auto shard = TokenShard::Open(path);
  ASSERT_THAT(shard, IsOk());
  EXPECT_EQ(shard->size(), tokens.size());
  EXPECT_EQ(shard->source_bytes(), 777u);
  EXPECT_FALSE(shard->tokenizer().recorded());
  for (size_t i = 0; i < tokens.size(); ++i) ASSERT_EQ((*shard)[i], tokens[i]) << "token " << i;
  WriteBytes(path, v1.substr(0, 30));
  EXPECT_THAT(TokenShard::Open(path), StatusIs(absl::StatusCode::kDataLoss, "40-byte header"));
}

// Files of one list must come from one tokenizer; unrecorded parts are taken as they are.
TEST(TokenShardTest, ListRefusesTwoTokenizers) {
  const std::string a = TempPath("list_a.bin"), b = TempPath("list_b.bin");
  const std::string c = TempPath("list_c.bin"), d = TempPath("list_d.bin");
  const TokenizerIdentity one = FakeTokenizer(TokenizerKind::kSentencePiece, 1);
  ASSERT_THAT(WriteTokenShard(a, Ramp(10, 1), 50, one), IsOk());
  ASSERT_THAT(WriteTokenShard(b, Ramp(10, 1), 50), IsOk());
  ASSERT_THAT(WriteTokenShard(c, Ramp(10, 1), 50, one), IsOk());
  ASSERT_THAT(WriteTokenShard(d, Ramp(10, 1), 50, FakeTokenizer(TokenizerKind::kSentencePiece, 2)),
              IsOk());
  auto same = TokenShard::Open(b + "," + a + "," + c);
  ASSERT_THAT(same, IsOk());
  EXPECT_EQ(same->tokenizer(), one);
  const absl::Status mixed = TokenShard::Open(a + "," + b + "," + d).status();
  EXPECT_THAT(mixed, StatusIs(absl::StatusCode::kInvalidArgument, "use one tokenizer"));
  EXPECT_THAT(mixed, StatusIs(absl::StatusCode::kInvalidArgument, a + " was made by"));
  EXPECT_THAT(mixed, StatusIs(absl::StatusCode::kInvalidArgument, "but " + d + " by"));
}

TEST(TokenShardTest, OverwriteIsAtomicAndLeavesNoTemporaries) {
  const std::string path = TempPath("overwrite.bin");
  ASSERT_THAT(WriteTokenShard(path, Ramp(100, 1), 1), IsOk());
  auto old_shard = TokenShard::Open(path);
  ASSERT_THAT(old_shard, IsOk());
  ASSERT_THAT(WriteTokenShard(path, Ramp(200, 1), 2), IsOk());
  EXPECT_EQ(old_shard->size(), 100u);  // the old mapping still reads the old file
  EXPECT_EQ((*old_shard)[99], Ramp(100, 1)[99]);
  auto new_shard = TokenShard::Open(path);
  ASSERT_THAT(new_shard, IsOk());
  EXPECT_EQ(new_shard->size(), 200u);
  for (const auto& entry : std::filesystem::directory_iterator(TempPath(""))) {
    EXPECT_EQ(entry.path().string().find(".tmp."), std::string::npos) << entry.path();
  }
}

}  // namespace
}  // namespace dqt
