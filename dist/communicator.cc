// Argument checks and error annotation shared by every backend, and the single-process backend.
#include "dist/communicator.h"

#include <cstdint>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace dqt {
namespace {

const char* OpName(ReduceOp op) { return op == ReduceOp::kSum ? "sum" : "max"; }

// The wrapper every collective's result goes through: an error keeps its code and gains the
// collective (built only on failure) and the rank that saw it.
template <typename Describe>
absl::Status Annotate(const Communicator& comm, absl::Status status, Describe describe) {
  if (status.ok()) return status;
  return absl::Status(status.code(), absl::StrCat(describe(), " on rank ", comm.rank(), " of ",
                                                  comm.size(), ": ", status.message()));
}

bool Overlap(const void* a, size_t a_bytes, const void* b, size_t b_bytes) {
  if (a_bytes == 0 || b_bytes == 0) return false;
  const auto a0 = reinterpret_cast<uintptr_t>(a), b0 = reinterpret_cast<uintptr_t>(b);
  return a0 < b0 + b_bytes && b0 < a0 + a_bytes;
}

// Sum of per-rank counts; InvalidArgument when there is not one count per rank or it overflows.
absl::StatusOr<size_t> Total(const Communicator& comm, absl::Span<const size_t> counts) {
  if (counts.size() != static_cast<size_t>(comm.size())) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%d per-rank counts given for a communicator of %d ranks", counts.size(), comm.size()));
  }
  size_t total = 0;
  for (size_t c : counts) {
    if (c > SIZE_MAX / 8 - total) return absl::InvalidArgumentError("per-rank counts overflow");
    total += c;
  }
  return total;
}

absl::Status NullBuffer(const char* which, size_t count) {
  return absl::InvalidArgumentError(
      absl::StrFormat("%s is null but holds %d elements", which, count));
}

}  // namespace

absl::Status Communicator::AllReduce(float* data, size_t count, ReduceOp op) {
  auto what = [&] { return absl::StrFormat("AllReduce(f32 %s, %d elements)", OpName(op), count); };
  if (data == nullptr && count > 0) return Annotate(*this, NullBuffer("data", count), what);
  return Annotate(*this, DoAllReduce(data, count, ReduceType::kFloat32, op), what);
}

absl::Status Communicator::AllReduce(double* data, size_t count, ReduceOp op) {
  auto what = [&] { return absl::StrFormat("AllReduce(f64 %s, %d elements)", OpName(op), count); };
  if (data == nullptr && count > 0) return Annotate(*this, NullBuffer("data", count), what);
  return Annotate(*this, DoAllReduce(data, count, ReduceType::kFloat64, op), what);
}

absl::Status Communicator::ReduceScatter(const float* send, float* recv,
                                         absl::Span<const size_t> recv_counts) {
  size_t mine = recv_counts.size() == static_cast<size_t>(size()) ? recv_counts[rank()] : 0;
  auto what = [&] { return absl::StrFormat("ReduceScatter(sum, %d floats to this rank)", mine); };
  absl::StatusOr<size_t> total = Total(*this, recv_counts);
  if (!total.ok()) return Annotate(*this, total.status(), what);
  if (send == nullptr && *total > 0) return Annotate(*this, NullBuffer("send", *total), what);
  if (recv == nullptr && mine > 0) return Annotate(*this, NullBuffer("recv", mine), what);
  if (Overlap(send, *total * sizeof(float), recv, mine * sizeof(float))) {
    return Annotate(*this, absl::InvalidArgumentError("send and recv overlap"), what);
  }
  return Annotate(*this, DoReduceScatter(send, recv, recv_counts), what);
}

absl::Status Communicator::ReduceScatter(const float* send, float* recv, size_t recv_count) {
  const std::vector<size_t> counts(size(), recv_count);
  return ReduceScatter(send, recv, counts);
}

absl::Status Communicator::AllGather(const void* send, void* recv,
                                     absl::Span<const size_t> send_bytes) {
  size_t mine = send_bytes.size() == static_cast<size_t>(size()) ? send_bytes[rank()] : 0;
  auto what = [&] { return absl::StrFormat("AllGather(%d bytes from this rank)", mine); };
  absl::StatusOr<size_t> total = Total(*this, send_bytes);
  if (!total.ok()) return Annotate(*this, total.status(), what);
  if (send == nullptr && mine > 0) return Annotate(*this, NullBuffer("send", mine), what);
  if (recv == nullptr && *total > 0) return Annotate(*this, NullBuffer("recv", *total), what);
  size_t offset = 0;
  for (int r = 0; r < rank(); ++r) offset += send_bytes[r];
  const bool in_place = send == static_cast<const char*>(recv) + offset;
  if (!in_place && Overlap(send, mine, recv, *total)) {
    return Annotate(*this,
                    absl::InvalidArgumentError(absl::StrFormat(
                        "send overlaps recv without being its block at offset %d", offset)),
                    what);
  }
  return Annotate(*this, DoAllGather(send, recv, send_bytes), what);
}

absl::Status Communicator::AllGather(const void* send, void* recv, size_t bytes_per_rank) {
  const std::vector<size_t> counts(size(), bytes_per_rank);
  return AllGather(send, recv, counts);
}

absl::Status Communicator::Broadcast(void* data, size_t bytes, int root) {
  auto what = [&] { return absl::StrFormat("Broadcast(%d bytes from root %d)", bytes, root); };
  if (root < 0 || root >= size()) {
    return Annotate(*this,
                    absl::InvalidArgumentError(absl::StrFormat("root must be in [0, %d)", size())),
                    what);
  }
  if (data == nullptr && bytes > 0) return Annotate(*this, NullBuffer("data", bytes), what);
  return Annotate(*this, DoBroadcast(data, bytes, root), what);
}

absl::Status Communicator::Barrier() {
  return Annotate(*this, DoBarrier(), [] { return "Barrier"; });
}

absl::StatusOr<std::unique_ptr<Communicator>> Communicator::Split(int color, int key) {
  auto what = [&] { return absl::StrFormat("Split(color %d, key %d)", color, key); };
  if (color < 0) {
    return Annotate(*this, absl::InvalidArgumentError("color must be >= 0"), what);
  }
  absl::StatusOr<std::unique_ptr<Communicator>> group = DoSplit(color, key);
  if (!group.ok()) return Annotate(*this, group.status(), what);
  return group;
}

absl::Status SingleProcessCommunicator::DoAllReduce(void*, size_t, ReduceType, ReduceOp) {
  return absl::OkStatus();
}

absl::Status SingleProcessCommunicator::DoReduceScatter(const float* send, float* recv,
                                                        absl::Span<const size_t> recv_counts) {
  if (recv_counts[0] > 0) std::memcpy(recv, send, recv_counts[0] * sizeof(float));
  return absl::OkStatus();
}

absl::Status SingleProcessCommunicator::DoAllGather(const void* send, void* recv,
                                                    absl::Span<const size_t> send_bytes) {
  if (send_bytes[0] > 0 && send != recv) std::memcpy(recv, send, send_bytes[0]);
  return absl::OkStatus();
}

absl::Status SingleProcessCommunicator::DoBroadcast(void*, size_t, int) { return absl::OkStatus(); }

absl::Status SingleProcessCommunicator::DoBarrier() { return absl::OkStatus(); }

absl::StatusOr<std::unique_ptr<Communicator>> SingleProcessCommunicator::DoSplit(int, int) {
  return std::make_unique<SingleProcessCommunicator>();
}

}  // namespace dqt
