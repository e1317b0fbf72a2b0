// Fuzz target: the token shard reader (data/token_shard.cc), dqt's format and llm.c's. Input: a
// whole file. A file that opens has its size agree with the file, and every token is read.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "data/token_shard.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = dqt::fuzz::ScratchDir() + "/shard.bin";
  dqt::fuzz::WriteBytes(path, std::string_view(reinterpret_cast<const char*>(data), size));
  absl::StatusOr<dqt::TokenShard> shard = dqt::TokenShard::Open(path);
  if (!shard.ok()) return 0;
  if (shard->size() * shard->bytes_per_token() > size) {
    dqt::fuzz::Fail("more token bytes than file bytes");
  }
  std::vector<int32_t> tokens(shard->size());
  if (!tokens.empty()) shard->Copy(0, tokens.size(), tokens.data());
  for (uint64_t i = 0; i < shard->size(); ++i) {
    if ((*shard)[i] != tokens[i]) dqt::fuzz::Fail("operator[] and Copy disagree");
  }
  // Two files as one dataset: the tokens of both, in order.
  absl::StatusOr<dqt::TokenShard> twice = dqt::TokenShard::Open(path + "," + path);
  if (!twice.ok() || twice->size() != 2 * shard->size()) {
    dqt::fuzz::Fail("a shard listed twice does not open with twice the tokens");
  }
  return 0;
}
