// The fake backend's rendezvous: ranks deposit copies of their inputs, the last to arrive
// computes every rank's output in rank order, the others wait (with a deadline) or see the
// world broken by a failed peer.
#include "dist/fake_communicator.h"

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "core/base/check.h"

namespace dqt {
namespace fake_internal {

class Rendezvous {
 public:
  Rendezvous(int size, FakeOptions options)
      : size_(size), options_(options), in_(size), out_(size), present_(size, false) {}

  int size() const { return size_; }
  const FakeOptions& options() const { return options_; }

  // Blocks until every rank has contributed to collective `index`, then returns this rank's
  // result; or the error that broke the world.
  absl::StatusOr<Result> Exchange(int rank, int64_t index, Contribution contribution,
                                  const Combine& combine) {
    std::unique_lock<std::mutex> lock(mu_);
    if (!broken_.ok()) return broken_;
    in_[rank] = std::move(contribution);
    present_[rank] = true;
    if (++arrived_ == size_) {
      for (int r = 1; r < size_; ++r) {
        if (in_[r].signature != in_[0].signature) {
          BreakLocked(absl::InvalidArgumentError(
              absl::StrFormat("ranks disagree on collective #%d: rank 0 called %s, rank %d %s",
                              index, in_[0].signature, r, in_[r].signature)));
          return broken_;
        }
      }
      for (Result& result : out_) result = Result();
      combine(in_, out_);
      for (int r = 0; r < size_; ++r) {
        in_[r] = Contribution();
        present_[r] = false;
      }
      arrived_ = 0;
      ++generation_;
      cv_.notify_all();
    } else {
      const int64_t generation = generation_;
      const auto deadline = std::chrono::steady_clock::now() + options_.timeout;
      const bool done = cv_.wait_until(lock, deadline,
                                       [&] { return generation_ != generation || !broken_.ok(); });
      if (!done) {
        std::vector<int> missing;
        for (int r = 0; r < size_; ++r) {
          if (!present_[r]) missing.push_back(r);
        }
        BreakLocked(absl::DeadlineExceededError(
            absl::StrFormat("collective #%d timed out after %d ms waiting for rank(s) %s", index,
                            options_.timeout.count(), absl::StrJoin(missing, ", "))));
      }
      if (generation_ == generation) return broken_;
    }
    return std::move(out_[rank]);
  }

  // Every waiting and later Exchange returns `status` (the first break wins).
  void Break(absl::Status status) {
    std::lock_guard<std::mutex> lock(mu_);
    BreakLocked(std::move(status));
  }

 private:
  void BreakLocked(absl::Status status) {
    if (broken_.ok()) broken_ = std::move(status);
    cv_.notify_all();
  }

  const int size_;
  const FakeOptions options_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Contribution> in_;  // by rank, for the current generation
  std::vector<Result> out_;       // by rank, from the last completed generation
  std::vector<bool> present_;     // by rank: contributed to the current generation
  int arrived_ = 0;
  int64_t generation_ = 0;
  absl::Status broken_;
};

}  // namespace fake_internal

namespace {

using fake_internal::Combine;
using fake_internal::Contribution;
using fake_internal::Result;

template <typename T>
std::vector<char> AsBytes(const T* data, size_t count) {
  std::vector<char> bytes(count * sizeof(T));
  if (count > 0) std::memcpy(bytes.data(), data, bytes.size());
  return bytes;
}

// Elements [offset, offset + count) reduced over ranks 0, 1, 2, ... in that order.
template <typename T>
std::vector<char> ReduceInRankOrder(const std::vector<Contribution>& in, size_t offset,
                                    size_t count, ReduceOp op) {
  std::vector<T> acc(count), next(count);
  for (size_t r = 0; r < in.size(); ++r) {
    T* into = r == 0 ? acc.data() : next.data();
    if (count > 0) std::memcpy(into, in[r].data.data() + offset * sizeof(T), count * sizeof(T));
    if (r == 0) continue;
    for (size_t i = 0; i < count; ++i) {
      acc[i] = op == ReduceOp::kSum ? acc[i] + next[i] : (next[i] > acc[i] ? next[i] : acc[i]);
    }
  }
  return AsBytes(acc.data(), count);
}

void CopyOut(const std::vector<char>& bytes, void* out) {
  if (!bytes.empty()) std::memcpy(out, bytes.data(), bytes.size());
}

}  // namespace

FakeCommunicator::FakeCommunicator(std::shared_ptr<fake_internal::Rendezvous> rendezvous, int rank)
    : rendezvous_(std::move(rendezvous)), rank_(rank) {}

FakeCommunicator::~FakeCommunicator() = default;

std::vector<std::unique_ptr<FakeCommunicator>> FakeCommunicator::CreateWorld(int size,
                                                                             FakeOptions options) {
  DQT_CHECK(size >= 1) << "a fake world needs at least one rank, got " << size;
  auto rendezvous = std::make_shared<fake_internal::Rendezvous>(size, options);
  std::vector<std::unique_ptr<FakeCommunicator>> world;
  for (int r = 0; r < size; ++r) world.emplace_back(new FakeCommunicator(rendezvous, r));
  return world;
}

int FakeCommunicator::size() const { return rendezvous_->size(); }

absl::StatusOr<Result> FakeCommunicator::Collective(Contribution contribution,
                                                    const Combine& combine) {
  const int64_t index = next_collective_++;
  if (failures_.count(index) > 0) {
    rendezvous_->Break(absl::UnavailableError(
        absl::StrFormat("peer rank %d failed in collective #%d (injected)", rank_, index)));
    return absl::InternalError(absl::StrFormat("injected failure in collective #%d", index));
  }
  return rendezvous_->Exchange(rank_, index, std::move(contribution), combine);
}

absl::Status FakeCommunicator::DoAllReduce(void* data, size_t count, ReduceType type, ReduceOp op) {
  const bool f32 = type == ReduceType::kFloat32;
  Contribution mine;
  mine.signature = absl::StrFormat("AllReduce(%s, %s, %d elements)", f32 ? "f32" : "f64",
                                   op == ReduceOp::kSum ? "sum" : "max", count);
  mine.data = f32 ? AsBytes(static_cast<const float*>(data), count)
                  : AsBytes(static_cast<const double*>(data), count);
  absl::StatusOr<Result> result = Collective(
      std::move(mine), [&](const std::vector<Contribution>& in, std::vector<Result>& out) {
        const std::vector<char> reduced = f32 ? ReduceInRankOrder<float>(in, 0, count, op)
                                              : ReduceInRankOrder<double>(in, 0, count, op);
        for (Result& o : out) o.data = reduced;
      });
  if (!result.ok()) return result.status();
  CopyOut(result->data, data);
  return absl::OkStatus();
}

absl::Status FakeCommunicator::DoReduceScatter(const float* send, float* recv,
                                               absl::Span<const size_t> recv_counts) {
  size_t total = 0;
  for (size_t c : recv_counts) total += c;
  Contribution mine;
  mine.signature =
      absl::StrFormat("ReduceScatter(sum, counts %s)", absl::StrJoin(recv_counts, ","));
  mine.data = AsBytes(send, total);
  const std::vector<size_t> counts(recv_counts.begin(), recv_counts.end());
  absl::StatusOr<Result> result = Collective(
      std::move(mine), [&](const std::vector<Contribution>& in, std::vector<Result>& out) {
        size_t offset = 0;
        for (size_t r = 0; r < out.size(); ++r) {
          out[r].data = ReduceInRankOrder<float>(in, offset, counts[r], ReduceOp::kSum);
          offset += counts[r];
        }
      });
  if (!result.ok()) return result.status();
  CopyOut(result->data, recv);
  return absl::OkStatus();
}

absl::Status FakeCommunicator::DoAllGather(const void* send, void* recv,
                                           absl::Span<const size_t> send_bytes) {
  Contribution mine;
  mine.signature = absl::StrFormat("AllGather(bytes %s)", absl::StrJoin(send_bytes, ","));
  mine.data = AsBytes(static_cast<const char*>(send), send_bytes[rank_]);
  absl::StatusOr<Result> result = Collective(
      std::move(mine), [](const std::vector<Contribution>& in, std::vector<Result>& out) {
        std::vector<char> gathered;
        for (const Contribution& c : in) {
          gathered.insert(gathered.end(), c.data.begin(), c.data.end());
        }
        for (Result& o : out) o.data = gathered;
      });
  if (!result.ok()) return result.status();
  CopyOut(result->data, recv);
  return absl::OkStatus();
}

absl::Status FakeCommunicator::DoBroadcast(void* data, size_t bytes, int root) {
  Contribution mine;
  mine.signature = absl::StrFormat("Broadcast(%d bytes, root %d)", bytes, root);
  if (rank_ == root) mine.data = AsBytes(static_cast<const char*>(data), bytes);
  absl::StatusOr<Result> result = Collective(
      std::move(mine), [root](const std::vector<Contribution>& in, std::vector<Result>& out) {
        for (size_t r = 0; r < out.size(); ++r) {
          if (static_cast<int>(r) != root) out[r].data = in[root].data;
        }
      });
  if (!result.ok()) return result.status();
  CopyOut(result->data, data);
  return absl::OkStatus();
}

absl::Status FakeCommunicator::DoBarrier() {
  Contribution mine;
  mine.signature = "Barrier";
  return Collective(std::move(mine), [](const std::vector<Contribution>&, std::vector<Result>&) {})
      .status();
}

absl::StatusOr<std::unique_ptr<Communicator>> FakeCommunicator::DoSplit(int color, int key) {
  Contribution mine;
  mine.signature = "Split";
  mine.color = color;
  mine.key = key;
  const FakeOptions options = rendezvous_->options();
  absl::StatusOr<Result> result = Collective(
      std::move(mine), [&options](const std::vector<Contribution>& in, std::vector<Result>& out) {
        std::vector<int> order(in.size());
        for (size_t r = 0; r < in.size(); ++r) order[r] = static_cast<int>(r);
        // Within a color: by key, ties by rank (stable sort over ranks in order).
        std::stable_sort(order.begin(), order.end(), [&in](int a, int b) {
          return std::pair(in[a].color, in[a].key) < std::pair(in[b].color, in[b].key);
        });
        for (size_t begin = 0; begin < order.size();) {
          size_t end = begin;
          while (end < order.size() && in[order[end]].color == in[order[begin]].color) ++end;
          auto group =
              std::make_shared<fake_internal::Rendezvous>(static_cast<int>(end - begin), options);
          for (size_t i = begin; i < end; ++i) {
            out[order[i]].group = group;
            out[order[i]].group_rank = static_cast<int>(i - begin);
          }
          begin = end;
        }
      });
  if (!result.ok()) return result.status();
  return std::unique_ptr<Communicator>(new FakeCommunicator(result->group, result->group_rank));
}

void RunOnRankThreads(absl::Span<const std::unique_ptr<FakeCommunicator>> world,
                      const std::function<void(FakeCommunicator&)>& body) {
  std::vector<std::thread> threads;
  threads.reserve(world.size());
  for (const std::unique_ptr<FakeCommunicator>& comm : world) {
    threads.emplace_back([&body, &comm] { body(*comm); });
  }
  for (std::thread& t : threads) t.join();
}

}  // namespace dqt
