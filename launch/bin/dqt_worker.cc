// dqt_worker: trains one run described by a protobuf text config.
//   dqt_worker --cfg run.pbtxt [--set optimizer.lr=3e-4 ...]
#include <unistd.h>

#include <cstdio>
#include <cstring>

#include "absl/strings/str_format.h"
#include "core/base/memory_ledger.h"
#include "core/base/status.h"
#include "core/train/data_parallel.h"
#include "core/train/memory_estimate.h"
#include "core/train/trainer.h"
#include "dist/mpi_communicator.h"
#include "kernels/device.h"
#include "launch/config.h"
#include "launch/flags.h"
#include "launch/process_env.h"
#include "launch/run_info.h"
#include "launch/stop_signal.h"

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

// Refuses a run that cannot fit in memory before anything is allocated or written: each rank
// estimates its own peak (core/train/memory_estimate.h), and the ranks that share a node's host
// memory (MPI_COMM_TYPE_SHARED) add theirs up against the least that any of them sees available.
// Ranks on CUDA are checked one by one against their device's free memory.
absl::Status CheckMemory(const dqt::RunConfig& config, const dqt::ProcessEnv& env, bool mpi) {
  const int tp = config.parallel.tp;
  auto node_share = [&](double node[2], double* available) -> absl::Status {
    MPI_Comm local = MPI_COMM_NULL;
    const bool ok =
        MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, env.rank, MPI_INFO_NULL,
                            &local) == MPI_SUCCESS &&
        MPI_Allreduce(MPI_IN_PLACE, node, 2, MPI_DOUBLE, MPI_SUM, local) == MPI_SUCCESS &&
        MPI_Allreduce(MPI_IN_PLACE, available, 1, MPI_DOUBLE, MPI_MIN, local) == MPI_SUCCESS;
    if (local != MPI_COMM_NULL) MPI_Comm_free(&local);
    if (!ok)
      return absl::InternalError("could not add up the memory of the ranks on this node (MPI)");
    return absl::OkStatus();
  };
  return dqt::CheckTrainingMemory(config, env.rank / tp, env.rank % tp,
                                  mpi ? dqt::HostShare(node_share) : nullptr);
}

// One line per rank at the end of a run: where it ran, how far it got and a digest of every
// weight it holds, so a job's output shows that all ranks ran and that data-parallel replicas
// agree (tensor-parallel ranks hold different shards).
void PrintRankSummary(const dqt::ProcessEnv& env, const dqt::Trainer& trainer, int step) {
  uint64_t digest = 0xcbf29ce484222325ull;
  for (const uint64_t d : dqt::TensorDigests(trainer.model().params())) {
    digest = (digest ^ d) * 0x100000001b3ull;
  }
  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  std::fprintf(stderr,
               "dqt_worker: rank %d of %d (%s, host %s, local rank %d): step %d, dp rank %d tp "
               "rank %d, weights digest %016llx\n",
               env.rank, env.world_size, env.launcher.c_str(), host, env.local_rank, step,
               trainer.grid().dp_rank(), trainer.grid().tp_rank(),
               static_cast<unsigned long long>(digest));
  std::fflush(stderr);
}

// Every rank validates the config; only rank 0 prints (errors are printed by the rank that has
// them, and a failing rank makes the launcher stop the others). Sets *exit_code to
// kExitStoppedForRequeue when a stop signal ended the run after its checkpoint.
absl::Status Main(int* argc, char*** argv, const std::vector<std::string>& command_line,
                  const std::string& cfg_path, const std::vector<std::string>& sets,
                  bool print_config, int* exit_code) {
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
    DQT_ASSIGN_OR_RETURN(
        world, mpi->World({.collective_timeout_s = config.parallel.collective_timeout_s}));
  }
  if (absl::Status s = CheckMemory(config, env, mpi != nullptr); !s.ok()) {
    return StopAllRanks(mpi.get(), env, s);
  }
  if (lead) DQT_RETURN_IF_ERROR(dqt::CreateRunDirectories(*run));
  absl::StatusOr<std::unique_ptr<dqt::Trainer>> trainer = dqt::Trainer::Create(config, world.get());
  if (!trainer.ok()) return StopAllRanks(mpi.get(), env, trainer.status());
  (*trainer)->set_stop_check(dqt::StopCheckFor(world.get()));
  // After Create, which refuses a fresh run in another run's directory before touching it.
  if (absl::Status s = dqt::RecordLaunch(*run, command_line, env, world.get()); !s.ok()) {
    return StopAllRanks(mpi.get(), env, s);
  }
  // After the run: the stop message (rank 0), every rank's summary, the requeue exit status.
  auto finish = [&](absl::Status s) {
    if (!s.ok()) return StopAllRanks(mpi.get(), env, s);
    const std::optional<int>& stopped = (*trainer)->stopped_at();
    if (stopped && lead) {
      const int sig = dqt::ReceivedStopSignal();
      std::fprintf(stderr,
                   "dqt_worker: stopped by %s after step %d; %s; exit status %d asks for a "
                   "requeue\n",
                   sig != 0 ? strsignal(sig) : "a signal to another rank", *stopped,
                   config.checkpoint.dir.empty()
                       ? "no checkpoint.dir is set, so nothing was saved"
                       : "checkpoint written, continue with --set checkpoint.resume=latest",
                   dqt::kExitStoppedForRequeue);
    }
    PrintRankSummary(env, **trainer, stopped ? *stopped : config.train.steps);
    if (stopped) *exit_code = dqt::kExitStoppedForRequeue;
    return s;
  };
  const dqt::LlamaParams& params = (*trainer)->model().params();
  if (!lead) return finish((*trainer)->Run());
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
  const dqt::MemorySnapshot mem = dqt::ReadMemoryLedger(params.device());
  const double n = static_cast<double>(params.numel());
  std::fprintf(stderr,
               "dqt_worker: %s memory from the allocator, bytes/parameter: weights %.3f, optimizer "
               "state %.3f, gradients %.3f%s (peak activations follow in the log after step 0)\n",
               dqt::DeviceName(params.device()), mem.Current(dqt::MemoryKind::kWeights) / n,
               mem.Current(dqt::MemoryKind::kOptimizer) / n,
               mem.Current(dqt::MemoryKind::kGradients) / n,
               mem.Current(dqt::MemoryKind::kTeacher) > 0
                   ? absl::StrFormat(", distillation teacher %.3f",
                                     mem.Current(dqt::MemoryKind::kTeacher) / n)
                         .c_str()
                   : "");
  if (absl::Status s = finish((*trainer)->Run()); !s.ok() || (*trainer)->stopped_at()) return s;
  const dqt::EvalResult& r = *(*trainer)->final_eval();
  std::fprintf(stderr,
               "dqt_worker: held-out loss %.4f nats/token, perplexity %.2f, %s over %lld tokens\n",
               r.loss, r.perplexity,
               r.bits_per_byte ? absl::StrFormat("%.4f bits/byte", *r.bits_per_byte).c_str()
                               : "bits/byte unavailable (the eval shard records no text size)",
               static_cast<long long>(r.tokens));
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
  const std::vector<std::string> command_line(argv, argv + argc);
  dqt::InstallStopSignalHandlers();
  int exit_code = 0;
  const int failed = dqt::FailWith(
      "dqt_worker", Main(&argc, &argv, command_line, cfg, sets, print_config, &exit_code));
  return failed != 0 ? failed : exit_code;
}
