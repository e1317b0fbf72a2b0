// dqt_worker: trains one run described by a protobuf text config.
//   dqt_worker --cfg run.pbtxt [--set optimizer.lr=3e-4 ...]
#include <cstdio>

#include "absl/strings/str_format.h"
#include "core/base/memory_ledger.h"
#include "core/train/trainer.h"
#include "launch/config.h"
#include "launch/flags.h"
#include "launch/process_env.h"

namespace {

absl::Status Main(const std::string& cfg_path, const std::vector<std::string>& sets,
                  bool print_config) {
  const dqt::ProcessEnv env = dqt::DiscoverProcessEnv();
  if (env.world_size > 1) {
    return absl::UnimplementedError(absl::StrFormat(
        "launched as rank %d of %d by %s, but multi-rank training is not implemented yet; "
        "run a single process",
        env.rank, env.world_size, env.launcher));
  }
  if (cfg_path.empty()) return absl::InvalidArgumentError("--cfg is required");
  absl::StatusOr<dqt::proto::RunProto> run = dqt::LoadRunProto(cfg_path, sets);
  if (!run.ok()) return run.status();
  if (absl::Status s = dqt::ValidateRunProto(*run); !s.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid config ", cfg_path, ":\n", s.message()));
  }
  if (print_config) {
    std::printf("%s", dqt::RunProtoToText(*run).c_str());
    return absl::OkStatus();
  }
  const dqt::RunConfig config = dqt::ToRunConfig(*run);
  absl::StatusOr<std::unique_ptr<dqt::Trainer>> trainer = dqt::Trainer::Create(config);
  if (!trainer.ok()) return trainer.status();
  const dqt::LlamaParams& params = (*trainer)->model().params();
  std::fprintf(stderr,
               "dqt_worker: %lld parameters (%d layers, d_model %d, vocab %d); %d steps of %d "
               "tokens\n",
               static_cast<long long>(params.numel()), config.model.n_layers, config.model.d_model,
               config.model.vocab_size, config.train.steps,
               config.train.micro_batch * config.train.seq_len * config.train.grad_accum);
  const dqt::MemorySnapshot mem = dqt::ReadMemoryLedger();
  const double n = static_cast<double>(params.numel());
  std::fprintf(stderr,
               "dqt_worker: memory from the allocator, bytes/parameter: weights %.3f, optimizer "
               "state %.3f, gradients %.3f (peak activations follow in the log after step 0)\n",
               mem.Current(dqt::MemoryKind::kWeights) / n,
               mem.Current(dqt::MemoryKind::kOptimizer) / n,
               mem.Current(dqt::MemoryKind::kGradients) / n);
  if (absl::Status s = (*trainer)->Run(); !s.ok()) return s;
  const dqt::EvalResult& r = *(*trainer)->final_eval();
  std::fprintf(stderr,
               "dqt_worker: held-out loss %.4f nats/token, perplexity %.2f, %.4f bits/byte over "
               "%lld tokens\n",
               r.loss, r.perplexity, r.bits_per_byte, static_cast<long long>(r.tokens));
  return absl::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  std::string cfg;
  std::vector<std::string> sets;
  bool print_config = false;
  dqt::Flags flags("dqt_worker", "--cfg run.pbtxt [--set path.to.field=value ...]");
  flags.String("cfg", &cfg, "run config in protobuf text format (proto/dqt.proto: RunProto)");
  flags.Repeated("set", &sets, "override one config field, e.g. --set optimizer.lr=3e-4");
  flags.Bool("print_config", &print_config, "print the full validated config and exit");
  if (absl::Status s = flags.Parse(argc, argv); !s.ok()) return dqt::FailWith("dqt_worker", s);
  if (!flags.positional().empty()) {
    return dqt::FailWith(
        "dqt_worker", absl::InvalidArgumentError("unexpected argument " + flags.positional()[0]));
  }
  return dqt::FailWith("dqt_worker", Main(cfg, sets, print_config));
}
