// Bytes communicated per training step per rank, and optimizer-state bytes per rank, for one
// DP x TP layout. Runs the real trainer under mpirun with the world communicator wrapped in a
// CountingCommunicator; rank 0 prints one JSON object (the largest rank's numbers).
// Usage: mpirun -np N comm_bytes_bench --cfg run.pbtxt [--set path=value ...]
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "core/base/memory_ledger.h"
#include "core/train/trainer.h"
#include "dist/counting_communicator.h"
#include "dist/mpi_communicator.h"
#include "launch/config.h"
#include "launch/flags.h"

namespace {

absl::Status Main(int* argc, char*** argv, const std::string& cfg,
                  const std::vector<std::string>& sets) {
  DQT_ASSIGN_OR_RETURN(dqt::proto::RunProto run, dqt::LoadRunProto(cfg, sets));
  DQT_RETURN_IF_ERROR(dqt::ValidateRunProto(run));
  const dqt::RunConfig config = dqt::ToRunConfig(run);
  DQT_ASSIGN_OR_RETURN(std::unique_ptr<dqt::MpiRuntime> mpi, dqt::MpiRuntime::Init(argc, argv));
  DQT_ASSIGN_OR_RETURN(std::unique_ptr<dqt::MpiCommunicator> world, mpi->World());
  dqt::CountingCommunicator counting(*world);
  DQT_ASSIGN_OR_RETURN(std::unique_ptr<dqt::Trainer> trainer,
                       dqt::Trainer::Create(config, &counting));
  const dqt::MemorySnapshot mem = dqt::ReadMemoryLedger();
  counting.Reset();  // count the training steps only, not the grid set-up
  DQT_RETURN_IF_ERROR(trainer->Run());
  const dqt::CommCounts& c = counting.counts();
  const double steps = config.train.steps;
  // Largest rank of each figure (ranks differ slightly: slices are cut at 256-element blocks).
  double v[] = {c.ring_bytes() / steps,
                c.all_reduce.ring_bytes / steps,
                c.reduce_scatter.ring_bytes / steps,
                c.all_gather.ring_bytes / steps,
                c.reduce_scatter.payload_bytes / steps,
                c.all_gather.payload_bytes / steps,
                static_cast<double>(mem.Current(dqt::MemoryKind::kOptimizer)),
                static_cast<double>(mem.Current(dqt::MemoryKind::kWeights))};
  DQT_RETURN_IF_ERROR(world->AllReduce(v, std::size(v), dqt::ReduceOp::kMax));
  if (world->rank() != 0) return absl::OkStatus();
  const dqt::QuantConfig& q = config.model.quant;
  const char* optimizer = q.optimizer == dqt::OptimizerKind::kFp       ? "fp"
                          : q.optimizer == dqt::OptimizerKind::kBitNet ? "bitnet"
                                                                       : "dqt";
  std::printf(
      "{\"bench\":\"comm_bytes\",\"world\":%d,\"dp\":%d,\"tp\":%d,\"dp_mode\":\"%s\","
      "\"optimizer\":\"%s\",\"grid\":\"%s\",\"policy\":\"%s\",\"params\":%lld,\"steps\":%d,"
      "\"per_step_per_rank\":{\"ring_bytes\":%.0f,\"all_reduce_ring_bytes\":%.0f,"
      "\"reduce_scatter_ring_bytes\":%.0f,\"all_gather_ring_bytes\":%.0f,"
      "\"reduce_scatter_payload_bytes\":%.0f,\"all_gather_payload_bytes\":%.0f},"
      "\"optimizer_bytes_per_rank\":%.0f,\"weight_bytes_per_rank\":%.0f}\n",
      world->size(), config.parallel.dp, config.parallel.tp,
      config.parallel.dp_mode == dqt::DpMode::kSharded ? "sharded" : "replicated", optimizer,
      q.optimizer == dqt::OptimizerKind::kFp ? "fp32" : q.grid.name(),
      q.policy == dqt::QuantPolicy::kAll ? "all" : "linear_only",
      static_cast<long long>(dqt::LlamaParams(config.model).numel()), config.train.steps, v[0],
      v[1], v[2], v[3], v[4], v[5], v[6], v[7]);
  return absl::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  std::string cfg;
  std::vector<std::string> sets;
  dqt::Flags flags("comm_bytes_bench", "--cfg run.pbtxt [--set path=value ...]");
  flags.String("cfg", &cfg, "run config (protobuf text)");
  flags.Repeated("set", &sets, "override one config field");
  if (absl::Status s = flags.Parse(argc, argv); !s.ok()) return dqt::FailWith(argv[0], s);
  return dqt::FailWith("comm_bytes_bench", Main(&argc, &argv, cfg, sets));
}
