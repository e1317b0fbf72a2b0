// dqt_generate: continues a prompt with a checkpoint, sampling one token at a time.
//   dqt_generate --ckpt runs/x/step_000100 --prompt "Once upon a time" [--max_tokens 100]
//                [--temperature 0.8] [--top_k 40] [--seed 1]
#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/base/status.h"
#include "launch/flags.h"
#include "launch/model_loading.h"
#include "launch/sampling.h"

namespace {

struct GenerateArgs {
  std::string ckpt;
  std::string prompt;
  int64_t max_tokens = 100;
  double temperature = 0.8;
  int64_t top_k = 40;
  int64_t seed = 1;
  bool fp_activations = false;
  dqt::TokenizerPaths tokenizer;
};

// Prints the prompt, then each new token's bytes as it is chosen (stdout is flushed per token,
// so a multi-byte character may arrive in pieces; the concatenation is exact).
absl::Status Main(const GenerateArgs& args) {
  if (args.ckpt.empty()) return absl::InvalidArgumentError("--ckpt is required");
  if (args.max_tokens < 0) {
    return absl::InvalidArgumentError(absl::StrCat("--max_tokens ", args.max_tokens, " < 0"));
  }
  if (!(args.temperature >= 0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--temperature ", args.temperature, " must be >= 0 (0 = greedy)"));
  }
  if (args.top_k < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--top_k ", args.top_k, " must be >= 0 (0 = the whole vocabulary)"));
  }
  const dqt::InferenceActivations activations = args.fp_activations
                                                    ? dqt::InferenceActivations::kFloat
                                                    : dqt::InferenceActivations::kAsTrained;
  DQT_ASSIGN_OR_RETURN(std::unique_ptr<dqt::LlamaModel> model,
                       dqt::LoadModel(args.ckpt, activations));
  DQT_ASSIGN_OR_RETURN(const std::string computes, dqt::DescribeInference(args.ckpt, activations));
  std::fprintf(stderr, "dqt_generate: computing with %s\n", computes.c_str());
  DQT_ASSIGN_OR_RETURN(dqt::Gpt2Tokenizer tokenizer, dqt::LoadTokenizer(args.tokenizer));
  const dqt::LlamaConfig& config = model->config();
  DQT_RETURN_IF_ERROR(dqt::CheckTokenizerFits(config, tokenizer));
  std::vector<int32_t> tokens = tokenizer.Encode(args.prompt);
  // An empty prompt starts a new document, as GPT-2 was trained: after <|endoftext|>.
  if (tokens.empty()) tokens.push_back(tokenizer.eot_id());
  const dqt::SamplingOptions options{args.temperature,
                                     static_cast<int>(std::min<int64_t>(args.top_k, 1 << 30))};
  std::fwrite(args.prompt.data(), 1, args.prompt.size(), stdout);
  std::vector<float> logits(config.vocab_size);
  for (int64_t i = 0; i < args.max_tokens; ++i) {
    // No KV cache: the model sees the last `context` tokens afresh for every new token.
    const int seq = static_cast<int>(std::min<size_t>(config.context, tokens.size()));
    model->LastLogits(tokens.data() + tokens.size() - seq, seq, logits.data());
    const float uniform =
        dqt::SamplerUniform(static_cast<uint64_t>(args.seed), static_cast<uint32_t>(i));
    const int32_t next = dqt::SampleToken(logits, options, uniform);
    if (next == tokenizer.eot_id()) break;
    tokens.push_back(next);
    const std::string piece = tokenizer.TokenText(next);
    std::fwrite(piece.data(), 1, piece.size(), stdout);
    std::fflush(stdout);
  }
  std::fputc('\n', stdout);
  return absl::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  GenerateArgs args;
  dqt::Flags flags("dqt_generate",
                   "--ckpt CKPT --prompt TEXT [--max_tokens 100] "
                   "[--temperature 0.8] [--top_k 40] [--seed 1]");
  flags.String("ckpt", &args.ckpt, "checkpoint written by dqt_worker (a step_NNNNNN directory)");
  flags.String("prompt", &args.prompt, "text to continue (empty: start after <|endoftext|>)");
  flags.Int("max_tokens", &args.max_tokens, "new tokens at most (stops early at <|endoftext|>)");
  flags.Double("temperature", &args.temperature, "softmax temperature; 0 = greedy");
  flags.Int("top_k", &args.top_k, "sample among the k most likely tokens; 0 = all");
  flags.Int("seed", &args.seed, "sampling seed: the same seed gives the same text");
  dqt::DeclareActivationFlag(flags, &args.fp_activations);
  dqt::DeclareTokenizerFlags(flags, &args.tokenizer);
  if (absl::Status s = flags.Parse(argc, argv); !s.ok()) return dqt::FailWith("dqt_generate", s);
  if (!flags.positional().empty()) {
    return dqt::FailWith(
        "dqt_generate", absl::InvalidArgumentError("unexpected argument " + flags.positional()[0]));
  }
  return dqt::FailWith("dqt_generate", Main(args));
}
