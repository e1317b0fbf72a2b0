// Test helper: real-text token shards cut from the fetched corpus (tests/run.sh fetches it).
#pragma once

#include <fstream>
#include <string>
#include <vector>

#include "data/gpt2_tokenizer.h"
#include "data/token_shard.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace dqt::testing {

// Tokenizes the first `bytes` of `text_file` (in DQT_DATA_DIR) into TempDir()/name.
inline std::string MakeTextShard(const std::string& text_file, size_t bytes,
                                 const std::string& name) {
  absl::StatusOr<Gpt2Tokenizer> tok =
      Gpt2Tokenizer::Load(DataPath("encoder.json"), DataPath("vocab.bpe"));
  EXPECT_TRUE(tok.ok()) << tok.status() << " (run tests/run.sh: it fetches the tokenizer)";
  if (!tok.ok()) return "";
  std::ifstream in(DataPath(text_file), std::ios::binary);
  std::string text(bytes, '\0');
  in.read(text.data(), bytes);
  text.resize(in.gcount());
  EXPECT_EQ(text.size(), bytes) << "run tests/run.sh (it fetches " << text_file << ")";
  const std::vector<int32_t> ids = tok->Encode(text);
  const std::string path = ::testing::TempDir() + "/" + name;
  EXPECT_TRUE(WriteTokenShard(path, ids, text.size()).ok());
  return path;
}

}  // namespace dqt::testing
