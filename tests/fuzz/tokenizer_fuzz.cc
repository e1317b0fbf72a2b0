// Fuzz target: GPT-2 BPE encode and decode (data/gpt2_tokenizer.cc), with the vocabulary from
// $DQT_DATA_DIR (launch/fetch_data.sh; exit 77, skipped, without it). Input byte 0 picks the
// check: even, the rest is text and Decode(Encode(text)) must give the text back (invalid UTF-8
// replaced as a WHATWG decoder does); odd, the rest is little-endian int32 ids, any value, to
// Decode.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "data/gpt2_tokenizer.h"
#include "data/utf8.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

std::optional<dqt::Gpt2Tokenizer> tokenizer;

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const char* dir = std::getenv("DQT_DATA_DIR");
  const std::string base = dir != nullptr ? dir : "data_cache";
  absl::StatusOr<dqt::Gpt2Tokenizer> t =
      dqt::Gpt2Tokenizer::Load(base + "/encoder.json", base + "/vocab.bpe");
  if (!t.ok()) {
    std::fprintf(stderr, "tokenizer_fuzz: skipped, needs the GPT-2 files in %s: %s\n", base.c_str(),
                 std::string(t.status().message()).c_str());
    std::exit(77);
  }
  tokenizer.emplace(*std::move(t));
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] % 2 == 0) {
    const std::vector<int32_t> ids = tokenizer->Encode(rest);
    for (const int32_t id : ids) {
      if (id < 0 || id >= tokenizer->vocab_size())
        dqt::fuzz::Fail("Encode gave an id outside the vocabulary");
    }
    if (tokenizer->Decode(ids) != dqt::ReplaceInvalidUtf8(rest)) {
      dqt::fuzz::Fail("Decode(Encode(text)) is not the text");
    }
  } else {
    std::vector<int32_t> ids(rest.size() / 4);
    if (!ids.empty()) std::memcpy(ids.data(), rest.data(), ids.size() * 4);
    const std::string text = tokenizer->Decode(ids);
    std::string joined;
    for (const int32_t id : ids) joined += tokenizer->TokenText(id);
    if (text != joined) dqt::fuzz::Fail("Decode differs from the tokens' texts joined");
  }
  return 0;
}
