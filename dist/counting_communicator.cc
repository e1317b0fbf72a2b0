// Forwarding and tallying (see counting_communicator.h).
#include "dist/counting_communicator.h"

#include <numeric>

#include "core/base/status.h"

namespace dqt {
namespace {

void Add(CommTally& tally, int64_t payload, int64_t ring) {
  ++tally.calls;
  tally.payload_bytes += payload;
  tally.ring_bytes += ring;
}

}  // namespace

CountingCommunicator::CountingCommunicator(Communicator& inner, std::shared_ptr<CommCounts> counts)
    : inner_(&inner), counts_(std::move(counts)) {}

CountingCommunicator::CountingCommunicator(Communicator& inner)
    : CountingCommunicator(inner, std::make_shared<CommCounts>()) {}

// The public calls of inner_ validate again; that costs nothing next to the transfer.
absl::Status CountingCommunicator::DoAllReduce(void* data, size_t count, ReduceType type,
                                               ReduceOp op) {
  const int64_t p = size();
  const int64_t bytes = static_cast<int64_t>(count) * (type == ReduceType::kFloat32 ? 4 : 8);
  Add(counts_->all_reduce, bytes, 2 * (p - 1) * bytes / p);
  return type == ReduceType::kFloat32 ? inner_->AllReduce(static_cast<float*>(data), count, op)
                                      : inner_->AllReduce(static_cast<double*>(data), count, op);
}

absl::Status CountingCommunicator::DoReduceScatter(const float* send, float* recv,
                                                   absl::Span<const size_t> recv_counts) {
  const int64_t p = size();
  const int64_t bytes =
      4 * static_cast<int64_t>(std::accumulate(recv_counts.begin(), recv_counts.end(), size_t{0}));
  Add(counts_->reduce_scatter, bytes, (p - 1) * bytes / p);
  return inner_->ReduceScatter(send, recv, recv_counts);
}

absl::Status CountingCommunicator::DoAllGather(const void* send, void* recv,
                                               absl::Span<const size_t> send_bytes) {
  const int64_t p = size();
  const int64_t own = static_cast<int64_t>(send_bytes[rank()]);
  Add(counts_->all_gather, own, (p - 1) * own);
  return inner_->AllGather(send, recv, send_bytes);
}

absl::Status CountingCommunicator::DoBroadcast(void* data, size_t bytes, int root) {
  const int64_t b = static_cast<int64_t>(bytes);
  Add(counts_->broadcast, rank() == root ? b : 0, size() > 1 ? b : 0);
  return inner_->Broadcast(data, bytes, root);
}

absl::Status CountingCommunicator::DoBarrier() { return inner_->Barrier(); }

absl::StatusOr<std::unique_ptr<Communicator>> CountingCommunicator::DoSplit(int color, int key) {
  DQT_ASSIGN_OR_RETURN(std::unique_ptr<Communicator> child, inner_->Split(color, key));
  auto wrapped = std::make_unique<CountingCommunicator>(*child, counts_);
  wrapped->owned_inner_ = std::move(child);
  return std::unique_ptr<Communicator>(std::move(wrapped));
}

}  // namespace dqt
