// dqt_eval: scores a text file (or a token shard) under a checkpoint in non-overlapping windows,
// computing the function the checkpoint was trained as (model_loading.h).
//   dqt_eval --ckpt runs/x/step_000100 --text book.txt [--seq_len N] [--batch 16] [--json]
//   dqt_eval --ckpt runs/x/step_000100 --shard eval.bin [--raw_uint16] [--seq_len N]
//            [--fp_activations]
#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/base/status.h"
#include "core/train/trainer.h"
#include "data/token_shard.h"
#include "launch/flags.h"
#include "launch/json.h"
#include "launch/model_loading.h"
#include "launch/progress.h"

namespace {

struct EvalArgs {
  std::string ckpt;
  std::string text;
  std::string shard;
  int64_t seq_len = 0;
  int64_t batch = 16;
  bool json = false;
  bool ternarize = false;
  bool fp_activations = false;
  bool raw_uint16 = false;  // a header-less --shard is nanoGPT's uint16 ids
  dqt::TokenizerPaths tokenizer;
};

// The tokens to score: the text file tokenized, or a token shard as it is (the trainer's
// evaluation reads the same windows of it with the same --seq_len).
struct Tokens {
  std::string name;
  std::vector<int32_t> ids;
  uint64_t bytes = 0;
};

absl::StatusOr<Tokens> ReadTokens(const EvalArgs& args, const dqt::LlamaConfig& config) {
  Tokens t;
  if (!args.shard.empty()) {
    DQT_ASSIGN_OR_RETURN(
        const dqt::TokenShard shard,
        dqt::TokenShard::Open(
            args.shard, args.raw_uint16 ? dqt::TokenFormat::kRawUint16 : dqt::TokenFormat::kAuto));
    t.name = args.shard;
    t.ids.resize(shard.size());
    if (!t.ids.empty()) shard.Copy(0, t.ids.size(), t.ids.data());
    t.bytes = shard.source_bytes();
    for (size_t i = 0; i < t.ids.size(); ++i) {
      if (t.ids[i] < 0 || t.ids[i] >= config.vocab_size) {
        return absl::InvalidArgumentError(
            absl::StrFormat("token id %d at %s is outside the model vocabulary [0, %d)", t.ids[i],
                            shard.Where(i), config.vocab_size));
      }
    }
    return t;
  }
  DQT_ASSIGN_OR_RETURN(std::string text, dqt::ReadWholeFile(args.text, "text file"));
  if (text.empty())
    return absl::InvalidArgumentError(absl::StrCat("text file ", args.text, " is empty"));
  DQT_ASSIGN_OR_RETURN(dqt::Gpt2Tokenizer tokenizer, dqt::LoadTokenizer(args.tokenizer));
  DQT_RETURN_IF_ERROR(dqt::CheckTokenizerFits(config, tokenizer));
  t.name = "text file " + args.text;
  t.ids = tokenizer.Encode(text);
  t.bytes = text.size();
  return t;
}

absl::Status Main(const EvalArgs& args) {
  if (args.ckpt.empty()) return absl::InvalidArgumentError("--ckpt is required");
  if (args.text.empty() == args.shard.empty()) {
    return absl::InvalidArgumentError("pass one of --text FILE or --shard FILE");
  }
  if (args.batch < 1) {
    return absl::InvalidArgumentError(absl::StrCat("--batch ", args.batch, " must be >= 1"));
  }
  const dqt::InferenceActivations activations = args.fp_activations
                                                    ? dqt::InferenceActivations::kFloat
                                                    : dqt::InferenceActivations::kAsTrained;
  DQT_ASSIGN_OR_RETURN(std::unique_ptr<dqt::LlamaModel> model,
                       dqt::LoadModel(args.ckpt, activations));
  DQT_ASSIGN_OR_RETURN(std::string computes, dqt::DescribeInference(args.ckpt, activations));
  if (args.ternarize) {
    TernarizeLinearWeights(model->params());
    computes += ", linear weights ternarized at load (--ternarize)";
  }
  const int context = model->config().context;
  if (args.seq_len < 0 || args.seq_len > context) {
    return absl::InvalidArgumentError(
        absl::StrFormat("--seq_len %d outside [1, %d] (the model's context; 0 means the context)",
                        args.seq_len, context));
  }
  DQT_ASSIGN_OR_RETURN(const Tokens input, ReadTokens(args, model->config()));
  const std::vector<int32_t>& tokens = input.ids;
  // A window of seq_len inputs needs seq_len + 1 tokens (the targets are shifted by one).
  const int64_t available = static_cast<int64_t>(tokens.size()) - 1;
  if (available < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(input.name, " has ", tokens.size(), " token: nothing to predict"));
  }
  int seq_len = static_cast<int>(args.seq_len);
  if (seq_len == 0) {
    seq_len = static_cast<int>(std::min<int64_t>(context, available));
  } else if (seq_len > available) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s has %d tokens, fewer than one window of --seq_len %d + 1", input.name,
                        tokens.size(), seq_len));
  }
  // The progress line follows the windows Evaluate reads (it reads them in order).
  dqt::TokenSource source = dqt::SourceOf(tokens, input.bytes);
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
  // A shard that does not record its text size (llm.c files) has no bits per byte.
  const std::string bits_json =
      r.bits_per_byte ? dqt::JsonNumber(*r.bits_per_byte) : std::string("null");
  const std::string bits_text =
      r.bits_per_byte ? absl::StrFormat("%.4f", *r.bits_per_byte) : std::string("unavailable");
  if (args.json) {
    std::printf(
        "{\"checkpoint\":%s,\"text\":%s,\"shard\":%s,\"ternarized\":%s,\"fp_activations\":%s,"
        "\"computes\":%s,\"loss\":%s,\"perplexity\":%s,\"bits_per_byte\":%s,\"tokens\":%lld,"
        "\"text_tokens\":%zu,\"bytes\":%llu,\"seq_len\":%d,\"windows\":%lld}\n",
        dqt::JsonQuote(args.ckpt).c_str(), dqt::JsonQuote(args.text).c_str(),
        dqt::JsonQuote(args.shard).c_str(), args.ternarize ? "true" : "false",
        args.fp_activations ? "true" : "false", dqt::JsonQuote(computes).c_str(),
        dqt::JsonNumber(r.loss).c_str(), dqt::JsonNumber(r.perplexity).c_str(), bits_json.c_str(),
        static_cast<long long>(r.tokens), tokens.size(),
        static_cast<unsigned long long>(input.bytes), seq_len, static_cast<long long>(windows));
  } else {
    std::printf(
        "%s: loss %.4f nats/token, perplexity %.3f, %s bits/byte over %lld tokens "
        "(%lld windows of %d; %zu tokens, %llu bytes of text)\ncomputed with: %s\n",
        input.name.c_str(), r.loss, r.perplexity, bits_text.c_str(),
        static_cast<long long>(r.tokens), static_cast<long long>(windows), seq_len, tokens.size(),
        static_cast<unsigned long long>(input.bytes), computes.c_str());
  }
  return absl::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  EvalArgs args;
  dqt::Flags flags("dqt_eval",
                   "--ckpt CKPT --text FILE|--shard FILE [--raw_uint16] [--seq_len N] [--batch 16] "
                   "[--json] [--ternarize] [--fp_activations]");
  flags.String("ckpt", &args.ckpt, "checkpoint written by dqt_worker (a step_NNNNNN directory)");
  flags.String("text", &args.text, "UTF-8 text file to score");
  flags.String(
      "shard", &args.shard,
      "token shard to score instead (dqt_prepare's; with the run's train.seq_len and "
      "train.micro_batch as --seq_len and --batch this is the trainer's final evaluation)");
  flags.Bool("raw_uint16", &args.raw_uint16,
             "read a --shard file that has no dqt or llm.c header as nanoGPT's prepare.py output "
             "(raw uint16 ids; the run config's data.token_format: RAW_UINT16)");
  flags.Int("seq_len", &args.seq_len,
            "window length in tokens; 0 = the model's context (or the text, if shorter)");
  flags.Int("batch", &args.batch, "windows per forward pass");
  flags.Bool("json", &args.json, "print one JSON object instead of a line of text");
  flags.Bool("ternarize", &args.ternarize,
             "apply BitNet's absmean ternarizer to every linear weight (q,k,v,o,gate,up,down) "
             "at load time: ternary inference of a model trained at any precision (activations "
             "stay as trained unless --fp_activations)");
  dqt::DeclareActivationFlag(flags, &args.fp_activations);
  dqt::DeclareTokenizerFlags(flags, &args.tokenizer);
  if (absl::Status s = flags.Parse(argc, argv); !s.ok()) return dqt::FailWith("dqt_eval", s);
  if (!flags.positional().empty()) {
    return dqt::FailWith(
        "dqt_eval", absl::InvalidArgumentError("unexpected argument " + flags.positional()[0]));
  }
  return dqt::FailWith("dqt_eval", Main(args));
}
