// SplitForTokenizing: the pieces cover the text, and GPT-2 BPE of the pieces equals BPE of the
// whole, on awkward strings and on the whole held-out corpus cut into small pieces.
#include "launch/text_pieces.h"

#include <cstdlib>
#include <string>

#include "data/gpt2_tokenizer.h"
#include "gtest/gtest.h"
#include "launch/file_io.h"

namespace dqt {
namespace {

std::string DataDir() {
  const char* d = std::getenv("DQT_DATA_DIR");
  return d != nullptr ? d : "data_cache";
}

// Encodes piece by piece and compares with the whole; reports the first differing id.
void ExpectSameIds(const Gpt2Tokenizer& tok, std::string_view text, size_t piece_bytes) {
  const std::vector<std::string_view> pieces = SplitForTokenizing(text, piece_bytes);
  std::string joined;
  std::vector<int32_t> ids;
  for (std::string_view p : pieces) {
    joined += p;
    const std::vector<int32_t> part = tok.Encode(p);
    ids.insert(ids.end(), part.begin(), part.end());
  }
  ASSERT_EQ(joined, text);
  const std::vector<int32_t> whole = tok.Encode(text);
  for (size_t i = 0; i < std::min(ids.size(), whole.size()); ++i) {
    ASSERT_EQ(ids[i], whole[i]) << "first difference at id " << i << " of " << whole.size() << " ("
                                << pieces.size() << " pieces of ~" << piece_bytes << ")";
  }
  ASSERT_EQ(ids.size(), whole.size());
}

class TextPiecesTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    absl::StatusOr<Gpt2Tokenizer> tok =
        Gpt2Tokenizer::Load(DataDir() + "/encoder.json", DataDir() + "/vocab.bpe");
    ASSERT_TRUE(tok.ok()) << tok.status();
    tokenizer_ = new Gpt2Tokenizer(std::move(*tok));
  }
  static Gpt2Tokenizer* tokenizer_;
};
Gpt2Tokenizer* TextPiecesTest::tokenizer_ = nullptr;

TEST_F(TextPiecesTest, AwkwardStrings) {
  for (const char* s :
       {"a\n\nb c", "don't  stop 'til you're done", "x \xc2\xa0 y z", "12 34 ab",
        "  leading spaces and trailing  ", "tab\t\tthen words here", "", "a",
        "\xff\xfe invalid bytes then words", "caf\xc3\xa9 na\xc3\xafve r\xc3\xa9sum\xc3\xa9"}) {
    for (size_t piece : {1, 2, 3, 5, 8}) ExpectSameIds(*tokenizer_, s, piece);
  }
}

TEST_F(TextPiecesTest, HeldOutCorpusInSmallPieces) {
  absl::StatusOr<std::string> text =
      ReadWholeFile(DataDir() + "/gutenberg_heldout.txt", "held-out corpus");
  ASSERT_TRUE(text.ok()) << text.status();
  const std::string_view part(text->data(), std::min<size_t>(text->size(), 400000));
  ExpectSameIds(*tokenizer_, part, 997);
  EXPECT_GT(SplitForTokenizing(part, 997).size(), 300u);
}

}  // namespace
}  // namespace dqt
