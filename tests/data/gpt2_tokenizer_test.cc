// Gpt2Tokenizer: DATA.md's reference ids, round trips, hash pinning, malformed and missing files.
#include "data/gpt2_tokenizer.h"

#include <omp.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace dqt {
namespace {

using ::dqt::testing::DataPath;
using ::dqt::testing::IsOk;
using ::dqt::testing::StatusIs;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;

class Gpt2TokenizerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto loaded = Gpt2Tokenizer::Load(DataPath("encoder.json"), DataPath("vocab.bpe"));
    ASSERT_THAT(loaded, IsOk());
    tokenizer_ = new Gpt2Tokenizer(std::move(loaded).value());
  }
  static void TearDownTestSuite() {
    delete tokenizer_;
    tokenizer_ = nullptr;
  }
  static const Gpt2Tokenizer& tok() { return *tokenizer_; }

  static Gpt2Tokenizer* tokenizer_;
};
Gpt2Tokenizer* Gpt2TokenizerTest::tokenizer_ = nullptr;

// Per-process scratch folder (other checkouts may run this test at the same time), removed
// when the program ends.
std::string ScratchDir() {
  return ::testing::TempDir() + "/gpt2_tokenizer_test." + std::to_string(::getpid());
}
class ScratchCleanup : public ::testing::Environment {
 public:
  void TearDown() override { std::filesystem::remove_all(ScratchDir()); }
};
::testing::Environment* const kScratchCleanup =
    ::testing::AddGlobalTestEnvironment(new ScratchCleanup);

std::string WriteTemp(const std::string& name, const std::string& contents) {
  std::filesystem::create_directories(ScratchDir());
  const std::string path = ScratchDir() + "/" + name;
  std::ofstream(path, std::ios::binary) << contents;
  return path;
}

TEST_F(Gpt2TokenizerTest, SizesAndSpecialToken) {
  EXPECT_EQ(tok().vocab_size(), 50257);
  EXPECT_EQ(tok().eot_id(), 50256);
  EXPECT_EQ(tok().TokenText(50256), "<|endoftext|>");
  EXPECT_EQ(tok().merges().size(), 50000u);
  EXPECT_EQ(tok().token_symbols()[220], "\xC4\xA0");  // " " is spelled U+0120 'Ġ'
  EXPECT_EQ(tok().TokenText(220), " ");
}

// DATA.md section C2: ids from tiktoken's own encoder for gpt2.
TEST_F(Gpt2TokenizerTest, ReferenceVectors) {
  EXPECT_THAT(tok().Encode("Hello world"), ElementsAreArray({15496, 995}));
  EXPECT_THAT(tok().Encode("Emma Woodhouse, handsome, clever, and rich,"),
              ElementsAreArray({10161, 2611, 5326, 4803, 11, 22665, 11, 14169, 11, 290, 5527, 11}));
  EXPECT_THAT(tok().Encode("  tabs\tand\nnewlines  "),
              ElementsAreArray({220, 22524, 197, 392, 198, 3605, 6615, 220, 220}));
  EXPECT_THAT(tok().Encode("It's 2021: $3.50 (approx.)"),
              ElementsAreArray({1026, 338, 33448, 25, 720, 18, 13, 1120, 357, 1324, 13907, 2014}));
}

TEST_F(Gpt2TokenizerTest, EmptyAndSpecialText) {
  EXPECT_TRUE(tok().Encode("").empty());
  // <|endoftext|> in text is ordinary text, never the special id.
  const std::vector<int32_t> ids = tok().Encode("<|endoftext|>");
  EXPECT_GT(ids.size(), 1u);
  EXPECT_EQ(tok().Decode(ids), "<|endoftext|>");
}

TEST_F(Gpt2TokenizerTest, RoundTrips) {
  const std::vector<std::string> texts = {
      "Hello world",
      "  leading and trailing  \n\n\n",
      "Unicode: caf\xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E \xF0\x9F\xA6\x99 na\xC3\xAFve",
      "Tabs\t\tand\r\nCRLF\x0B\x0C",
      "numbers 1234567890 3.14159 -42",
      std::string("nul\0byte", 8),
      std::string(5000, ' ') + "x" + std::string(3000, '-'),
  };
  for (const std::string& text : texts) {
    EXPECT_EQ(tok().Decode(tok().Encode(text)), text) << text;
  }
}

// Invalid UTF-8 is encoded as if each maximal invalid subpart were U+FFFD (WHATWG decoding).
TEST_F(Gpt2TokenizerTest, InvalidUtf8BecomesReplacementCharacter) {
  EXPECT_EQ(tok().Encode("a\xFF"
                         "b"),
            tok().Encode("a\xEF\xBF\xBD"
                         "b"));
  EXPECT_EQ(tok().Encode("x\xE6\x97"), tok().Encode("x\xEF\xBF\xBD"));  // truncated
  EXPECT_EQ(tok().Encode("\xED\xA0\x80"), tok().Encode("\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"));
  EXPECT_EQ(tok().Encode("\xC0\xAF"), tok().Encode("\xEF\xBF\xBD\xEF\xBF\xBD"));  // overlong
}

// Large inputs are cut into chunks encoded in parallel; the ids must equal a one-thread encode,
// also around awkward line ends (spaces before '\n', blank lines, Unicode spaces, digits).
TEST_F(Gpt2TokenizerTest, ParallelEncodeMatchesSerial) {
  const std::vector<std::string> fragments = {"Line of words, and more.\n",
                                              "x\n\ny",
                                              "a  \nB",
                                              " \n",
                                              "\n",
                                              "end.\n\n\n",
                                              "9\n9",
                                              "'s\n's",
                                              "\xC2\xA0\nNBSP",
                                              "\t\n\tTab",
                                              "caf\xC3\xA9\n",
                                              "--\n--",
                                              "Q\n \nR"};
  std::string text;
  uint64_t state = 12345;
  while (text.size() < (size_t{3} << 20)) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    text += fragments[(state >> 33) % fragments.size()];
  }
  const int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  const std::vector<int32_t> serial = tok().Encode(text);
  omp_set_num_threads(12);  // 12 chunks: more cuts to get wrong
  const std::vector<int32_t> parallel = tok().Encode(text);
  omp_set_num_threads(threads);
  ASSERT_EQ(parallel.size(), serial.size());
  for (size_t i = 0; i < serial.size(); ++i) {
    ASSERT_EQ(parallel[i], serial[i]) << "first difference at token " << i;
  }
  EXPECT_EQ(tok().Decode(parallel), text);
}

TEST_F(Gpt2TokenizerTest, OutOfRangeIdsDecodeToReplacementCharacter) {
  const std::vector<int32_t> ids = {15496, -1, 50257, 995};
  EXPECT_EQ(tok().Decode(ids), "Hello\xEF\xBF\xBD\xEF\xBF\xBD world");
}

TEST(Gpt2TokenizerLoadTest, MissingFile) {
  EXPECT_THAT(Gpt2Tokenizer::Load("/nonexistent/encoder.json", DataPath("vocab.bpe")),
              StatusIs(absl::StatusCode::kNotFound, "/nonexistent/encoder.json"));
  EXPECT_THAT(Gpt2Tokenizer::Load(DataPath("encoder.json"), "/nonexistent/vocab.bpe"),
              StatusIs(absl::StatusCode::kNotFound, "/nonexistent/vocab.bpe"));
}

TEST(Gpt2TokenizerLoadTest, WrongHashRejected) {
  std::ifstream in(DataPath("vocab.bpe"), std::ios::binary);
  std::string vocab((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_FALSE(vocab.empty());
  vocab.back() = ' ';  // one byte changed
  const std::string path = WriteTemp("tampered_vocab.bpe", vocab);
  const auto loaded = Gpt2Tokenizer::Load(DataPath("encoder.json"), path);
  EXPECT_THAT(loaded, StatusIs(absl::StatusCode::kDataLoss, path));
  EXPECT_THAT(loaded.status().message(), HasSubstr(kGpt2VocabBpeSha256));
}

TEST(Gpt2TokenizerLoadTest, MalformedFilesRejected) {
  const std::string vocab = WriteTemp("tiny_vocab.bpe", "#version: 0.2\n");
  const std::string bytes_only = [] {
    // A valid 256-byte vocabulary plus <|endoftext|>, written with \u escapes.
    std::string json = "{";
    int next = 256;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
      const int cp = printable ? b : next++;
      char escaped[32];
      std::snprintf(escaped, sizeof(escaped), "\"\\u%04x\": %d, ", cp, b);
      json += escaped;
    }
    return json + "\"<|endoftext|>\": 256}";
  }();
  const std::string good_json = WriteTemp("bytes.json", bytes_only);
  auto tiny = Gpt2Tokenizer::Load(good_json, vocab, /*verify_hashes=*/false);
  ASSERT_THAT(tiny, IsOk());
  EXPECT_EQ(tiny->vocab_size(), 257);
  EXPECT_EQ(tiny->eot_id(), 256);
  EXPECT_EQ(tiny->Decode(tiny->Encode("bytes only \xE2\x9C\x93")), "bytes only \xE2\x9C\x93");

  const std::vector<std::pair<std::string, std::string>> bad_json = {
      {"{\"a\": 1", "'}'"},
      {"{\"a\" 1}", "expected ':'"},
      {"{\"\\ud800\": 1}", "surrogate"},
      {"{\"a\": 1.5}", "not an integer"},
      {"[1, 2]", "expected '{'"},
      {"{\"a\": 0}", "fewer than the 256 bytes"},
  };
  for (const auto& [contents, message] : bad_json) {
    const std::string path = WriteTemp("bad.json", contents);
    EXPECT_THAT(Gpt2Tokenizer::Load(path, vocab, false),
                StatusIs(absl::StatusCode::kInvalidArgument, message))
        << contents;
  }
  const std::string bad_merge = WriteTemp("bad_vocab.bpe", "#version: 0.2\nab\n");
  EXPECT_THAT(Gpt2Tokenizer::Load(good_json, bad_merge, false),
              StatusIs(absl::StatusCode::kInvalidArgument, "line 2"));
  const std::string unknown_merge = WriteTemp("unknown_vocab.bpe", "#version: 0.2\na b\n");
  EXPECT_THAT(Gpt2Tokenizer::Load(good_json, unknown_merge, false),
              StatusIs(absl::StatusCode::kInvalidArgument, "does not have"));
}

}  // namespace
}  // namespace dqt
