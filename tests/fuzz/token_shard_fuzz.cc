// Fuzz target: the token shard reader (data/token_shard.cc), dqt's format, llm.c's and nanoGPT's
// header-less one. Input: a whole file. A file that opens has its size agree with the file, and
// every token is read.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "data/token_shard.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

// The shard's token bytes fit in the file, and operator[] and Copy read the same ids.
void CheckTokens(const dqt::TokenShard& shard, size_t file_bytes) {
  if (shard.size() * shard.bytes_per_token() > file_bytes) {
    dqt::fuzz::Fail("more token bytes than file bytes");
  }
  std::vector<int32_t> tokens(shard.size());
  if (!tokens.empty()) shard.Copy(0, tokens.size(), tokens.data());
  for (uint64_t i = 0; i < shard.size(); ++i) {
    if (shard[i] != tokens[i]) dqt::fuzz::Fail("operator[] and Copy disagree");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = dqt::fuzz::ScratchDir() + "/shard.bin";
  dqt::fuzz::WriteBytes(path, std::string_view(reinterpret_cast<const char*>(data), size));
  // Read as nanoGPT's header-less uint16 ids where there is no dqt or llm.c header: every even
  // length opens (as itself or as raw), and the same checks hold.
  absl::StatusOr<dqt::TokenShard> raw = dqt::TokenShard::Open(path, dqt::TokenFormat::kRawUint16);
  if (raw.ok()) CheckTokens(*raw, size);
  absl::StatusOr<dqt::TokenShard> shard = dqt::TokenShard::Open(path);
  if (!shard.ok()) return 0;
  if (!raw.ok()) dqt::fuzz::Fail("a file that opens by its header is refused as raw");
  CheckTokens(*shard, size);
  // Two files as one dataset: the tokens of both, in order.
  absl::StatusOr<dqt::TokenShard> twice = dqt::TokenShard::Open(path + "," + path);
  if (!twice.ok() || twice->size() != 2 * shard->size()) {
    dqt::fuzz::Fail("a shard listed twice does not open with twice the tokens");
  }
  return 0;
}
