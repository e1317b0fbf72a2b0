// FakeCommunicator: N ranks simulated by threads of one process, for tests. Same collectives and
// semantics as the MPI backend, reductions in fixed rank order (0, 1, 2, ...), failure injection.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "dist/communicator.h"

namespace dqt {

namespace fake_internal {

class Rendezvous;

struct Contribution {
  std::string signature;  // what the rank called; must be equal on every rank
  std::vector<char> data;
  int color = 0;
  int key = 0;
};

struct Result {
  std::vector<char> data;
  std::shared_ptr<Rendezvous> group;  // Split only
  int group_rank = 0;
};

// Fills every rank's result from every rank's contribution (both indexed by rank).
using Combine = std::function<void(const std::vector<Contribution>&, std::vector<Result>&)>;

}  // namespace fake_internal

struct FakeOptions {
  // A rank waiting this long for its peers fails the collective on every rank
  // (DeadlineExceeded) instead of hanging: a peer that never arrives is a bug in the test.
  std::chrono::milliseconds timeout{60000};
};

// One rank of a fake world. Each rank's communicator is used from its own thread. Every rank
// copies its input into a shared rendezvous; the last to arrive computes all outputs under a
// lock, so results are deterministic and bitwise identical on all ranks. Calls that disagree
// across ranks (kind, counts, op, root) fail on every rank with InvalidArgument, where MPI would
// be undefined. Once a collective fails on any rank, the world is broken: that collective and
// every later one (Split children excepted) return an error on all ranks.
class FakeCommunicator final : public Communicator {
 public:
  // Ranks 0..size-1 of a new world.
  static std::vector<std::unique_ptr<FakeCommunicator>> CreateWorld(int size,
                                                                    FakeOptions options = {});
  ~FakeCommunicator() override;

  int rank() const override { return rank_; }
  int size() const override;

  // Collective number `index` (0-based, counted on this communicator) fails on this rank with
  // Internal "injected failure"; the peers in it get Unavailable naming this rank. Call before
  // the rank's thread starts.
  void InjectFailure(int64_t index) { failures_.insert(index); }

 protected:
  absl::Status DoAllReduce(void* data, size_t count, ReduceType type, ReduceOp op) override;
  absl::Status DoReduceScatter(const float* send, float* recv,
                               absl::Span<const size_t> recv_counts) override;
  absl::Status DoAllGather(const void* send, void* recv,
                           absl::Span<const size_t> send_bytes) override;
  absl::Status DoBroadcast(void* data, size_t bytes, int root) override;
  absl::Status DoBarrier() override;
  absl::StatusOr<std::unique_ptr<Communicator>> DoSplit(int color, int key) override;

 private:
  FakeCommunicator(std::shared_ptr<fake_internal::Rendezvous> rendezvous, int rank);

  // The path of every collective: the injected failure if this is its index, else the
  // rendezvous. Returns this rank's result.
  absl::StatusOr<fake_internal::Result> Collective(fake_internal::Contribution contribution,
                                                   const fake_internal::Combine& combine);

  std::shared_ptr<fake_internal::Rendezvous> rendezvous_;
  int rank_;
  int64_t next_collective_ = 0;
  std::set<int64_t> failures_;
};

// Runs body(comm) for every rank of `world` on its own thread and joins them all.
void RunOnRankThreads(absl::Span<const std::unique_ptr<FakeCommunicator>> world,
                      const std::function<void(FakeCommunicator&)>& body);

}  // namespace dqt
