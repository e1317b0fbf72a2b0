// dqt_eval: scores a text file under a checkpoint in non-overlapping windows.
//   dqt_eval --ckpt runs/x/step_000100 --text book.txt [--seq_len N] [--batch 16] [--json]
#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/base/status.h"
#include "core/train/trainer.h"
#include "launch/flags.h"
#include "launch/json.h"
#include "launch/model_loading.h"
#include "launch/progress.h"

namespace {

struct EvalArgs {
  std::string ckpt;
  std::string text;
  int64_t seq_len = 0;
  int64_t batch = 16;
  bool json = false;
  bool ternarize = false;
  dqt::TokenizerPaths tokenizer;
};

absl::Status Main(const EvalArgs& args) {
  if (args.ckpt.empty()) return absl::InvalidArgumentError("--ckpt is required");
  if (args.text.empty()) return absl::InvalidArgumentError("--text is required");
  if (args.batch < 1) {
    return absl::InvalidArgumentError(absl::StrCat("--batch ", args.batch, " must be >= 1"));
  }
  DQT_ASSIGN_OR_RETURN(std::string text, dqt::ReadWholeFile(args.text, "text file"));
  if (text.empty())
    return absl::InvalidArgumentError(absl::StrCat("text file ", args.text, " is empty"));
  DQT_ASSIGN_OR_RETURN(std::unique_ptr<dqt::LlamaModel> model, dqt::LoadModel(args.ckpt));
  if (args.ternarize) TernarizeLinearWeights(model->params());
  const int context = model->config().context;
  if (args.seq_len < 0 || args.seq_len > context) {
    return absl::InvalidArgumentError(
        absl::StrFormat("--seq_len %d outside [1, %d] (the model's context; 0 means the context)",
                        args.seq_len, context));
  }
  DQT_ASSIGN_OR_RETURN(dqt::Gpt2Tokenizer tokenizer, dqt::LoadTokenizer(args.tokenizer));
  DQT_RETURN_IF_ERROR(dqt::CheckTokenizerFits(model->config(), tokenizer));
  const std::vector<int32_t> tokens = tokenizer.Encode(text);
  // A window of seq_len inputs needs seq_len + 1 tokens (the targets are shifted by one).
  const int64_t available = static_cast<int64_t>(tokens.size()) - 1;
  if (available < 1) {
    return absl::InvalidArgumentError(absl::StrCat("text file ", args.text, " has ", tokens.size(),
                                                   " token: nothing to predict"));
  }
  int seq_len = static_cast<int>(args.seq_len);
  if (seq_len == 0) {
    seq_len = static_cast<int>(std::min<int64_t>(context, available));
  } else if (seq_len > available) {
    return absl::InvalidArgumentError(
        absl::StrFormat("text file %s has %d tokens, fewer than one window of --seq_len %d + 1",
                        args.text, tokens.size(), seq_len));
  }
  // The progress line follows the windows Evaluate reads (it reads them in order).
  dqt::TokenSource source = dqt::SourceOf(tokens, text.size());
  dqt::ProgressLine progress("evaluating", static_cast<double>(tokens.size()), "tokens");
  source.copy = [&progress, copy = source.copy](uint64_t start, size_t n, int32_t* out) {
    copy(start, n, out);
    progress.Update(static_cast<double>(start + n));
  };
  const dqt::EvalResult r =
      dqt::Evaluate(*model, source, seq_len, static_cast<int>(args.batch), /*max_windows=*/0);
  progress.Update(static_cast<double>(tokens.size()), "done");
  progress.Finish();
  const int64_t windows = available / seq_len;
  if (args.json) {
    std::printf(
        "{\"checkpoint\":%s,\"text\":%s,\"ternarized\":%s,\"loss\":%s,\"perplexity\":%s,\"bits_per_"
        "byte\":%s,"
        "\"tokens\":%lld,\"text_tokens\":%zu,\"bytes\":%zu,\"seq_len\":%d,\"windows\":%lld}\n",
        dqt::JsonQuote(args.ckpt).c_str(), dqt::JsonQuote(args.text).c_str(),
        args.ternarize ? "true" : "false", dqt::JsonNumber(r.loss).c_str(),
        dqt::JsonNumber(r.perplexity).c_str(), dqt::JsonNumber(r.bits_per_byte.value()).c_str(),
        static_cast<long long>(r.tokens), tokens.size(), text.size(), seq_len,
        static_cast<long long>(windows));
  } else {
    std::printf(
        "%s: loss %.4f nats/token, perplexity %.3f, %.4f bits/byte over %lld tokens "
        "(%lld windows of %d; %zu tokens, %zu bytes of text)\n",
        args.text.c_str(), r.loss, r.perplexity, r.bits_per_byte.value(),
        static_cast<long long>(r.tokens), static_cast<long long>(windows), seq_len, tokens.size(),
        text.size());
  }
  return absl::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  EvalArgs args;
  dqt::Flags flags("dqt_eval", "--ckpt CKPT --text FILE [--seq_len N] [--batch 16] [--json]");
  flags.String("ckpt", &args.ckpt, "checkpoint written by dqt_worker (a step_NNNNNN directory)");
  flags.String("text", &args.text, "UTF-8 text file to score");
  flags.Int("seq_len", &args.seq_len,
            "window length in tokens; 0 = the model's context (or the text, if shorter)");
  flags.Int("batch", &args.batch, "windows per forward pass");
  flags.Bool("json", &args.json, "print one JSON object instead of a line of text");
  flags.Bool("ternarize", &args.ternarize,
             "apply BitNet's absmean ternarizer to every linear weight (q,k,v,o,gate,up,down) "
             "at load time: ternary inference of a model trained at any precision");
  dqt::DeclareTokenizerFlags(flags, &args.tokenizer);
  if (absl::Status s = flags.Parse(argc, argv); !s.ok()) return dqt::FailWith("dqt_eval", s);
  if (!flags.positional().empty()) {
    return dqt::FailWith(
        "dqt_eval", absl::InvalidArgumentError("unexpected argument " + flags.positional()[0]));
  }
  return dqt::FailWith("dqt_eval", Main(args));
}
