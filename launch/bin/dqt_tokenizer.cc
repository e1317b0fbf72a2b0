// dqt_tokenizer: SentencePiece tokenizers (docs/INTEROP.md).
//   dqt_tokenizer train --input corpus.txt --vocab_size 8000 --model_type bpe --out spm/tok
//       (writes spm/tok.model and spm/tok.vocab; text round-trips exactly)
//   dqt_tokenizer encode --model tokenizer.model --text "Hello world"   (prints the ids)
#include <cstdio>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/base/status.h"
#include "data/sentencepiece_tokenizer.h"
#include "launch/flags.h"

namespace {

struct Args {
  std::string input, out, model, text, model_type = "bpe";
  int64_t vocab_size = 8000;
};

absl::Status Main(const std::string& command, const Args& args) {
  if (command == "train") {
    if (args.input.empty() || args.out.empty()) {
      return absl::InvalidArgumentError("train needs --input and --out");
    }
    if (args.model_type != "bpe" && args.model_type != "unigram") {
      return absl::InvalidArgumentError(
          absl::StrCat("--model_type \"", args.model_type, "\": bpe or unigram"));
    }
    if (args.vocab_size < 300 || args.vocab_size > (1 << 20)) {
      return absl::InvalidArgumentError(absl::StrCat("--vocab_size ", args.vocab_size,
                                                     " outside [300, 2^20] (256 byte tokens "
                                                     "and the specials come first)"));
    }
    DQT_RETURN_IF_ERROR(dqt::TrainSentencePiece(
        args.input, static_cast<int>(args.vocab_size),
        args.model_type == "bpe" ? dqt::SentencePieceType::kBpe : dqt::SentencePieceType::kUnigram,
        args.out));
    std::printf("dqt_tokenizer: wrote %s.model (%s, %lld pieces) from %s\n", args.out.c_str(),
                args.model_type.c_str(), static_cast<long long>(args.vocab_size),
                args.input.c_str());
    return absl::OkStatus();
  }
  if (command == "encode") {
    if (args.model.empty()) return absl::InvalidArgumentError("encode needs --model");
    DQT_ASSIGN_OR_RETURN(const dqt::SentencePieceTokenizer tok,
                         dqt::SentencePieceTokenizer::Load(args.model));
    std::printf("%s\n", absl::StrJoin(tok.Encode(args.text), " ").c_str());
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown command \"", command, "\"; expected train or encode"));
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  dqt::Flags flags("dqt_tokenizer",
                   "train --input FILE --vocab_size N --model_type bpe|unigram --out PREFIX | "
                   "encode --model FILE --text TEXT");
  flags.String("input", &args.input, "train: UTF-8 corpus file");
  flags.Int("vocab_size", &args.vocab_size, "train: pieces in the vocabulary");
  flags.String("model_type", &args.model_type, "train: bpe or unigram");
  flags.String("out", &args.out, "train: output prefix (PREFIX.model, PREFIX.vocab)");
  flags.String("model", &args.model, "encode: a SentencePiece tokenizer.model");
  flags.String("text", &args.text, "encode: text to tokenize");
  if (absl::Status s = flags.Parse(argc, argv); !s.ok()) return dqt::FailWith("dqt_tokenizer", s);
  if (flags.positional().size() != 1) {
    return dqt::FailWith("dqt_tokenizer",
                         absl::InvalidArgumentError("expected one command: train or encode"));
  }
  return dqt::FailWith("dqt_tokenizer", Main(flags.positional()[0], args));
}
