// Gpt2Tokenizer against the reference: the whole held-out corpus encoded by gpt-3-encoder's
// Encoder.js under node (tests/data/gpt2_reference.js) must give the same ids.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "data/gpt2_tokenizer.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace dqt {
namespace {

using ::dqt::testing::DataPath;
using ::dqt::testing::IsOk;

// tests/data/gpt2_reference.js: under $DQT_SOURCE_DIR (set by ctest), else beside this file.
std::string ReferenceScript() {
  const char* dir = std::getenv("DQT_SOURCE_DIR");
  if (dir != nullptr) return std::string(dir) + "/tests/data/gpt2_reference.js";
  return (std::filesystem::path(__FILE__).parent_path() / "gpt2_reference.js").string();
}

bool Exists(const std::string& path) { return std::ifstream(path).good(); }

// Runs `command` and returns its stdout; false when it cannot run or exits non-zero.
bool RunCommand(const std::string& command, std::string* out) {
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return false;
  char buffer[1 << 16];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof(buffer), pipe)) > 0) out->append(buffer, n);
  return pclose(pipe) == 0;
}

std::string Context(const std::vector<int32_t>& ids, size_t at) {
  std::ostringstream s;
  const size_t from = at >= 5 ? at - 5 : 0;
  for (size_t i = from; i < std::min(ids.size(), at + 6); ++i) {
    s << (i == at ? "[" : "") << ids[i] << (i == at ? "] " : " ");
  }
  return s.str();
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Needs node, the fetched Encoder.js and this folder's script (found through DQT_SOURCE_DIR,
// which ctest sets); skips without them.
class Gpt2ReferenceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    script_ = ReferenceScript();
    if (!Exists(DataPath("Encoder.js")) || !Exists(script_)) {
      GTEST_SKIP() << "needs " << DataPath("Encoder.js") << " and " << script_
                   << " (run launch/fetch_data.sh)";
    }
    if (std::system("node --version >/dev/null 2>&1") != 0) GTEST_SKIP() << "node not found";
    auto tok = Gpt2Tokenizer::Load(DataPath("encoder.json"), DataPath("vocab.bpe"));
    ASSERT_THAT(tok, IsOk());
    tokenizer_ = std::make_unique<Gpt2Tokenizer>(std::move(tok).value());
  }

  // Encodes `file` with Encoder.js and with Gpt2Tokenizer and compares the ids.
  void ExpectSameIds(const std::string& file) {
    std::string js_output;
    ASSERT_TRUE(
        RunCommand("node '" + script_ + "' '" + DataPath("") + "' '" + file + "'", &js_output))
        << "node " << script_ << " failed on " << file;
    std::vector<int32_t> expected;
    std::istringstream js_ids(js_output);
    for (int32_t id; js_ids >> id;) expected.push_back(id);
    const std::vector<int32_t> got = tokenizer_->Encode(ReadAll(file));

    size_t first_diff = 0;
    while (first_diff < got.size() && first_diff < expected.size() &&
           got[first_diff] == expected[first_diff]) {
      ++first_diff;
    }
    if (first_diff < got.size() || first_diff < expected.size()) {
      FAIL() << file << ": first difference at token " << first_diff << " (C++ " << got.size()
             << " tokens, Encoder.js " << expected.size()
             << ")\n  C++:         " << Context(got, first_diff)
             << "\n  Encoder.js:  " << Context(expected, first_diff);
    }
  }

  std::string script_;
  std::unique_ptr<Gpt2Tokenizer> tokenizer_;
};

TEST_F(Gpt2ReferenceTest, HeldOutCorpusMatchesEncoderJs) {
  const std::string corpus = DataPath("gutenberg_heldout.txt");
  ASSERT_TRUE(Exists(corpus)) << corpus << " missing (run launch/fetch_data.sh)";
  ExpectSameIds(corpus);
  const std::string text = ReadAll(corpus);
  EXPECT_EQ(tokenizer_->Decode(tokenizer_->Encode(text)), text);
}

// Node reads the file as UTF-8 with WHATWG replacement; Encode must repair the same way.
TEST_F(Gpt2ReferenceTest, InvalidUtf8MatchesEncoderJs) {
  const std::string file =
      ::testing::TempDir() + "/gpt2_reference_test." + std::to_string(::getpid()) + ".txt";
  std::ofstream(file, std::ios::binary)
      << "caf\xE9 \xFF\xFE abc \xE6\x97 x \xED\xA0\x80 y \xF0\x9F\xA6 z \xC0\xAF end\xC3";
  ExpectSameIds(file);
  std::remove(file.c_str());
}

}  // namespace
}  // namespace dqt
