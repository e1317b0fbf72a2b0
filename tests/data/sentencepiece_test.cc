// SentencePiece through libsentencepiece: the LLaMA-2 vocabulary (llama-tokenizer-js, built into
// a BPE tokenizer.model here) reproduces the reference ids of ../shared/DATA.md C3; models trained
// on the corpus (BPE and unigram) round-trip held-out text exactly; a file of the wrong kind is
// a clear error.
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_split.h"
#include "data/sentencepiece_tokenizer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/text_shards.h"

namespace dqt {
namespace {

using ::dqt::testing::DataPath;
using ::dqt::testing::IsOk;
using ::dqt::testing::StatusIs;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The string constant `name = "..."` of llama-tokenizer.js, base64-decoded.
std::string JsConstant(const std::string& js, const std::string& name) {
  const size_t at = js.find(name + " = \"");
  if (at == std::string::npos) return "";
  const size_t begin = at + name.size() + 4;
  std::string out;
  absl::Base64Unescape(js.substr(begin, js.find('"', begin) - begin), &out);
  return out;
}

TEST(SentencePieceTest, Llama2VocabularyGivesTheReferenceIds) {
  const std::string path = DataPath("interop/llama-tokenizer.js");
  if (!std::filesystem::exists(path))
    GTEST_SKIP() << "needs " << path << " (launch/fetch_interop.sh)";
  const std::string js = ReadAll(path);
  const std::vector<std::string> pieces =
      absl::StrSplit(JsConstant(js, "llama_vocab_base64"), '\n');
  ASSERT_EQ(pieces.size(), 32000u);
  const std::string merge_bytes = JsConstant(js, "llama_merges_binary");
  ASSERT_EQ(merge_bytes.size(), 61249u * 4);
  std::vector<std::pair<int, int>> merges;
  for (size_t i = 0; i < merge_bytes.size(); i += 4) {
    uint16_t a, b;
    std::memcpy(&a, merge_bytes.data() + i, 2);
    std::memcpy(&b, merge_bytes.data() + i + 2, 2);
    merges.emplace_back(a, b);
  }
  absl::StatusOr<std::string> model = SentencePieceBpeModel(pieces, merges);
  ASSERT_THAT(model, IsOk());
  absl::StatusOr<SentencePieceTokenizer> tok =
      SentencePieceTokenizer::FromSerialized(*model, "llama2");
  ASSERT_THAT(tok, IsOk());
  EXPECT_EQ(tok->vocab_size(), 32000);
  EXPECT_EQ(tok->bos_id(), 1);
  // DATA.md C3 (the package's own test vectors); 1 = BOS, which the caller adds.
  const std::pair<std::string, std::vector<int32_t>> cases[] = {
      {"grabbed", {2646, 1327, 287}},
      {" grabbed", {29871, 2646, 1327, 287}},
      {"\n", {29871, 13}},
      {"ax\n####\nboo", {4853, 13, 4136, 13, 833, 29877}},
      {"\xF0\x9F\xA6\x99", {29871, 243, 162, 169, 156}},  // the llama emoji, by byte fallback
  };
  for (const auto& [text, ids] : cases) {
    EXPECT_EQ(tok->Encode(text), ids) << "\"" << text << "\"";
    EXPECT_EQ(tok->Decode(ids), text);
  }
}

TEST(SentencePieceTest, TrainedModelsRoundTripText) {
  if (!std::filesystem::exists(DataPath("gutenberg_train.txt"))) GTEST_SKIP() << "fetch_data.sh";
  const std::string dir = ::testing::TempDir() + "/spm";
  std::filesystem::create_directories(dir);
  const std::string corpus = ReadAll(DataPath("gutenberg_train.txt")).substr(0, 300000);
  std::ofstream(dir + "/corpus.txt", std::ios::binary) << corpus;
  const std::string heldout = ReadAll(DataPath("gutenberg_heldout.txt")).substr(0, 40000) +
                              "  tabs\tand\nnewlines  \xC3\xA6 \xF0\x9F\xA6\x99 1234\n";
  for (SentencePieceType type : {SentencePieceType::kBpe, SentencePieceType::kUnigram}) {
    const std::string prefix = dir + (type == SentencePieceType::kBpe ? "/bpe" : "/unigram");
    ASSERT_THAT(TrainSentencePiece(dir + "/corpus.txt", 1000, type, prefix), IsOk());
    absl::StatusOr<SentencePieceTokenizer> tok = SentencePieceTokenizer::Load(prefix + ".model");
    ASSERT_THAT(tok, IsOk());
    EXPECT_EQ(tok->vocab_size(), 1000);
    const std::vector<int32_t> ids = tok->Encode(heldout);
    EXPECT_LT(ids.size(), heldout.size() / 2);  // it does compress
    EXPECT_EQ(tok->Decode(ids), heldout);
  }
  std::filesystem::remove_all(dir);
}

TEST(SentencePieceTest, WrongKindOfFileIsAnError) {
  const std::string dir = ::testing::TempDir();
  std::ofstream(dir + "/encoder.json") << "{\"!\": 0, \"\\\"\": 1}";
  EXPECT_THAT(SentencePieceTokenizer::Load(dir + "/encoder.json"),
              StatusIs(absl::StatusCode::kInvalidArgument, "is not a SentencePiece model"));
  EXPECT_THAT(SentencePieceTokenizer::Load(dir + "/none.model"),
              StatusIs(absl::StatusCode::kNotFound, "not found"));
  EXPECT_THAT(SentencePieceBpeModel({"<unk>", "<s>", "</s>", "a", "b"}, {{3, 4}}).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, "is not a piece"));
}

}  // namespace
}  // namespace dqt
