// dqt_worker: trains one run described by a protobuf text config.
//   dqt_worker --cfg run.pbtxt [--set optimizer.lr=3e-4 ...]
#include <cstdio>

#include "absl/strings/str_format.h"
#include "core/base/memory_ledger.h"
#include "core/base/status.h"
#include "core/train/trainer.h"
#include "dist/mpi_communicator.h"
#include "kernels/device.h"
#include "launch/config.h"
#include "launch/flags.h"
#include "launch/process_env.h"

namespace {

// In a multi-rank job an error on one rank must not leave the others waiting in a collective:
// print this rank's message and abort the whole job (the launcher then stops every rank).
absl::Status StopAllRanks(const dqt::MpiRuntime* mpi, const dqt::ProcessEnv& env,
                          absl::Status status) {
  if (status.ok() || mpi == nullptr) return status;
  std::fprintf(stderr, "dqt_worker: rank %d of %d: %s\n", env.rank, env.world_size,
               std::string(status.message()).c_str());
  std::fflush(stderr);
  MPI_Abort(MPI_COMM_WORLD, 1);
  return status;
}

// Every rank validates the config; only rank 0 prints (errors are printed by the rank that has
// them, and a failing rank makes the launcher stop the others).
absl::Status Main(int* argc, char*** argv, const std::string& cfg_path,
                  const std::vector<std::string>& sets, bool print_config) {
  const dqt::ProcessEnv env = dqt::DiscoverProcessEnv();
  const bool lead = env.rank == 0;
  if (const int gpus = dqt::CudaDeviceCount(); gpus > 0) {
    DQT_ASSIGN_OR_RETURN(const int device, dqt::SelectCudaDeviceForLocalRank(env.local_rank));
    if (lead) {
      std::fprintf(stderr,
                   "dqt_worker: rank 0 on CUDA device %d of %d (device = local rank %% %d)\n",
                   device, gpus, gpus);
    }
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
  // A multi-rank launch (mpirun, srun) trains over MPI as parallel.dp x parallel.tp ranks.
  std::unique_ptr<dqt::MpiRuntime> mpi;
  std::unique_ptr<dqt::MpiCommunicator> world;
  if (env.world_size > 1) {
    DQT_ASSIGN_OR_RETURN(mpi, dqt::MpiRuntime::Init(argc, argv));
    DQT_ASSIGN_OR_RETURN(world, mpi->World());
  }
  absl::StatusOr<std::unique_ptr<dqt::Trainer>> trainer = dqt::Trainer::Create(config, world.get());
  if (!trainer.ok()) return StopAllRanks(mpi.get(), env, trainer.status());
  const dqt::LlamaParams& params = (*trainer)->model().params();
  if (!lead) return StopAllRanks(mpi.get(), env, (*trainer)->Run());
  std::fprintf(
      stderr,
      "dqt_worker: %lld parameters on rank 0 (%d layers, d_model %d, vocab %d; dp %d x tp %d, "
      "%s data parallelism); %d steps of %d tokens\n",
      static_cast<long long>(params.numel()), config.model.n_layers, config.model.d_model,
      config.model.vocab_size, config.parallel.dp, config.parallel.tp,
      config.parallel.dp_mode == dqt::DpMode::kSharded ? "sharded" : "replicated",
      config.train.steps,
      config.train.micro_batch * config.train.seq_len * config.train.grad_accum *
          config.parallel.dp);
  const dqt::MemorySnapshot mem = dqt::ReadMemoryLedger();
  const double n = static_cast<double>(params.numel());
  std::fprintf(stderr,
               "dqt_worker: memory from the allocator, bytes/parameter: weights %.3f, optimizer "
               "state %.3f, gradients %.3f (peak activations follow in the log after step 0)\n",
               mem.Current(dqt::MemoryKind::kWeights) / n,
               mem.Current(dqt::MemoryKind::kOptimizer) / n,
               mem.Current(dqt::MemoryKind::kGradients) / n);
  if (absl::Status s = (*trainer)->Run(); !s.ok()) return StopAllRanks(mpi.get(), env, s);
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
  return dqt::FailWith("dqt_worker", Main(&argc, &argv, cfg, sets, print_config));
}
