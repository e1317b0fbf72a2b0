// Training-step throughput of the CPU backend: forward + backward + AdamW on random tokens for
// a given model shape. Prints one JSON object (tokens/s, ms per phase, threads).
// Usage: train_step_bench [--d_model 256 --n_layers 4 --n_heads 4 --ffn_dim 704 --vocab 50257
//                          --seq 128 --batch 16 --steps 5]
#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "core/base/parallel.h"
#include "core/model/llama.h"
#include "core/optim/adamw.h"
#include "launch/flags.h"

int main(int argc, char** argv) {
  int64_t d_model = 256, n_layers = 4, n_heads = 4, ffn_dim = 704, vocab = 50257, seq = 128,
          batch = 16, steps = 5;
  std::string mode = "fp";
  dqt::Flags flags("train_step_bench", "train_step_bench [flags]");
  flags.String("mode", &mode,
               "fp | bitnet | dqt-N (N = 2..8) | dqt-ternary (linear_only, int8 acts)");
  flags.Int("d_model", &d_model, "model width");
  flags.Int("n_layers", &n_layers, "blocks");
  flags.Int("n_heads", &n_heads, "attention heads");
  flags.Int("ffn_dim", &ffn_dim, "SwiGLU width");
  flags.Int("vocab", &vocab, "vocabulary size");
  flags.Int("seq", &seq, "tokens per sequence");
  flags.Int("batch", &batch, "sequences per step");
  flags.Int("steps", &steps, "timed steps (after one warm-up step)");
  if (absl::Status s = flags.Parse(argc, argv); !s.ok()) return dqt::FailWith(argv[0], s);

  dqt::LlamaConfig c;
  c.d_model = d_model;
  c.n_layers = n_layers;
  c.n_heads = c.n_kv_heads = n_heads;
  c.ffn_dim = ffn_dim;
  c.vocab_size = vocab;
  c.context = seq;
  if (mode != "fp") {
    c.quant.int8_activations = true;
    if (mode == "bitnet") {
      c.quant.optimizer = dqt::OptimizerKind::kBitNet;
    } else if (mode == "dqt-ternary") {
      c.quant.optimizer = dqt::OptimizerKind::kDqt;
    } else if (mode.rfind("dqt-", 0) == 0 && mode.size() == 5 && mode[4] >= '2' && mode[4] <= '8') {
      c.quant.optimizer = dqt::OptimizerKind::kDqt;
      c.quant.grid = dqt::QuantGrid::Integer(mode[4] - '0');
    } else {
      return dqt::FailWith(argv[0], absl::InvalidArgumentError("unknown --mode " + mode));
    }
  }
  dqt::LlamaModel model(c);
  DQT_CHECK_OK(model.params().Init());
  dqt::AdamW opt(dqt::AdamWConfig{}, model.params());
  std::vector<int32_t> tokens(batch * (seq + 1));
  std::mt19937 rng(1);
  for (int32_t& t : tokens) t = rng() % vocab;
  std::vector<int32_t> in(batch * seq), tgt(batch * seq);
  for (int b = 0; b < batch; ++b)
    for (int t = 0; t < seq; ++t) {
      in[b * seq + t] = tokens[b * (seq + 1) + t];
      tgt[b * seq + t] = tokens[b * (seq + 1) + t + 1];
    }
  using Clock = std::chrono::steady_clock;
  double fb_s = 0, opt_s = 0;
  for (int s = 0; s <= steps; ++s) {
    const auto t0 = Clock::now();
    model.params().grads().Zero();
    int64_t count;
    model.ForwardBackward(in.data(), tgt.data(), batch, seq, 1.0f / (batch * seq), &count);
    const auto t1 = Clock::now();
    DQT_CHECK_OK(
        opt.Step(model.params(), s, 1e-3f, 0.1f, dqt::AdamW::GradNorm(model.params())).status());
    const auto t2 = Clock::now();
    if (s == 0) continue;  // warm-up
    fb_s += std::chrono::duration<double>(t1 - t0).count();
    opt_s += std::chrono::duration<double>(t2 - t1).count();
  }
  const double tokens_per_step = double(batch) * seq;
  std::printf(
      "{\"bench\":\"train_step\",\"mode\":\"%s\",\"params\":%lld,\"d_model\":%lld,\"n_layers\":%"
      "lld,\"ffn_dim\":%"
      "lld,"
      "\"vocab\":%lld,\"seq\":%lld,\"batch\":%lld,\"threads\":%d,\"fwd_bwd_ms\":%.1f,"
      "\"optimizer_ms\":%.1f,\"tokens_per_s\":%.0f}\n",
      mode.c_str(), static_cast<long long>(model.params().numel()), static_cast<long long>(d_model),
      static_cast<long long>(n_layers), static_cast<long long>(ffn_dim),
      static_cast<long long>(vocab), static_cast<long long>(seq), static_cast<long long>(batch),
      dqt::HostThreads(), 1e3 * fb_s / steps, 1e3 * opt_s / steps,
      tokens_per_step * steps / (fb_s + opt_s));
  return 0;
}
