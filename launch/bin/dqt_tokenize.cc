// dqt_tokenize: GPT-2 ids of the text on stdin, printed on one line separated by spaces;
// with --decode, the text of the whitespace-separated ids on stdin.
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "core/base/status.h"
#include "data/gpt2_tokenizer.h"
#include "data/utf8.h"
#include "launch/flags.h"

namespace dqt {
namespace {

constexpr char kProgram[] = "dqt_tokenize";

absl::StatusOr<std::string> ReadStdin() {
  std::string text;
  char buffer[1 << 16];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof(buffer), stdin)) > 0) text.append(buffer, n);
  if (std::ferror(stdin)) return absl::DataLossError("error reading stdin");
  return text;
}

absl::Status WriteStdout(const std::string& bytes) {
  if (std::fwrite(bytes.data(), 1, bytes.size(), stdout) != bytes.size() ||
      std::fflush(stdout) != 0) {
    return absl::UnavailableError("error writing stdout");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<int32_t>> ParseIds(const std::string& text, int vocab_size) {
  std::vector<int32_t> ids;
  size_t pos = 0;
  while (true) {
    pos = text.find_first_not_of(" \t\r\n", pos);
    if (pos == std::string::npos) break;
    size_t end = text.find_first_of(" \t\r\n", pos);
    if (end == std::string::npos) end = text.size();
    const std::string word = text.substr(pos, end - pos);
    int32_t id;
    if (!absl::SimpleAtoi(word, &id)) {
      return absl::InvalidArgumentError(
          absl::StrCat("input word ", ids.size() + 1, " \"", word, "\" is not a token id"));
    }
    if (id < 0 || id >= vocab_size) {
      return absl::InvalidArgumentError(absl::StrCat(
          "token id ", id, " (input word ", ids.size() + 1, ") is outside [0, ", vocab_size, ")"));
    }
    ids.push_back(id);
    pos = end;
  }
  return ids;
}

absl::Status Run(int argc, char** argv) {
  std::string encoder = "data_cache/encoder.json";
  std::string vocab = "data_cache/vocab.bpe";
  bool decode = false;
  bool verify_hashes = true;
  Flags flags(kProgram, "[--decode] < input > output");
  flags.String("encoder", &encoder, "GPT-2 encoder.json");
  flags.String("vocab", &vocab, "GPT-2 vocab.bpe");
  flags.Bool("decode", &decode, "read token ids, write their text");
  flags.Bool("verify_hashes", &verify_hashes, "require OpenAI's sha256 for both files");
  DQT_RETURN_IF_ERROR(flags.Parse(argc, argv));
  if (!flags.positional().empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("unexpected argument \"", flags.positional()[0], "\" (input is stdin)"));
  }
  DQT_ASSIGN_OR_RETURN(const Gpt2Tokenizer tokenizer,
                       Gpt2Tokenizer::Load(encoder, vocab, verify_hashes));
  DQT_ASSIGN_OR_RETURN(const std::string input, ReadStdin());
  if (decode) {
    DQT_ASSIGN_OR_RETURN(const std::vector<int32_t> ids, ParseIds(input, tokenizer.vocab_size()));
    return WriteStdout(tokenizer.Decode(ids));
  }
  if (const std::string why = BinaryContentReason(input); !why.empty()) {
    std::fprintf(stderr, "%s: warning: the input looks like binary data, not text (%s bytes)\n",
                 kProgram, why.c_str());
  }
  const std::vector<int32_t> ids = tokenizer.Encode(input);
  std::string line;
  line.reserve(ids.size() * 6 + 1);
  for (size_t i = 0; i < ids.size(); ++i) absl::StrAppend(&line, i ? " " : "", ids[i]);
  line.push_back('\n');
  return WriteStdout(line);
}

}  // namespace
}  // namespace dqt

int main(int argc, char** argv) { return dqt::FailWith(dqt::kProgram, dqt::Run(argc, argv)); }
