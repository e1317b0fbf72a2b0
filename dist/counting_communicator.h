// CountingCommunicator: a decorator that forwards every collective to another communicator and
// counts what this rank passes through it, as payload bytes and as the bytes a ring algorithm
// (NCCL's, MPI's for large messages) sends per rank. Sub-communicators from Split count into the
// same tally, so a whole DP x TP run is measured from its world communicator.
#pragma once

#include <cstdint>
#include <memory>

#include "dist/communicator.h"

namespace dqt {

struct CommTally {
  int64_t calls = 0;
  int64_t payload_bytes = 0;  // bytes this rank contributes (its send buffer)
  int64_t ring_bytes = 0;     // bytes this rank sends with ring algorithms (p ranks):
                              //   all-reduce 2 (p-1)/p S, reduce-scatter (p-1)/p S,
                              //   all-gather (p-1) B_own, broadcast S (root and relays)
};

struct CommCounts {
  CommTally all_reduce, reduce_scatter, all_gather, broadcast;
  int64_t ring_bytes() const {
    return all_reduce.ring_bytes + reduce_scatter.ring_bytes + all_gather.ring_bytes +
           broadcast.ring_bytes;
  }
};

class CountingCommunicator final : public Communicator {
 public:
  // `inner` must outlive this communicator; counts go to `counts` (shared with Split children).
  CountingCommunicator(Communicator& inner, std::shared_ptr<CommCounts> counts);
  explicit CountingCommunicator(Communicator& inner);

  int rank() const override { return inner_->rank(); }
  int size() const override { return inner_->size(); }
  const CommCounts& counts() const { return *counts_; }
  void Reset() { *counts_ = CommCounts{}; }

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
  Communicator* inner_;
  std::unique_ptr<Communicator> owned_inner_;  // a Split child this decorator wraps
  std::shared_ptr<CommCounts> counts_;
};

}  // namespace dqt
