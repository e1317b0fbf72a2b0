// Collective cases shared by every backend's test (MPI ranks, fake threads, single process):
// each rank contributes rank-dependent data and checks the result against values computed
// locally. The data make every sum exact in any order, so results must match exactly.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "core/base/packed_ternary.h"
#include "dist/communicator.h"
#include "dist/process_grid.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace dqt::testing {

// Empty, single, odd, and a large prime (not a multiple of any chunk or vector width).
inline constexpr size_t kAwkwardCounts[] = {0, 1, 7, 1000003};

// Quarter steps in [-250, 250]: sums over any number of ranks that matters here are exact.
inline float FloatValue(int rank, size_t i) {
  const int64_t k =
      static_cast<int64_t>((i * 7919 + static_cast<size_t>(rank) * 104729 + 13) % 2001);
  return static_cast<float>(k - 1000) * 0.25f;
}
// Near 1e9 in eighths: exact in f64 (sums included), not representable in f32.
inline double DoubleValue(int rank, size_t i) {
  return 1e9 + static_cast<double>((i * 31 + static_cast<size_t>(rank) * 17) % 1009) * 0.125;
}
inline uint8_t ByteValue(int rank, size_t i) {
  return static_cast<uint8_t>(i * 131 + static_cast<size_t>(rank) * 71 + 5);
}
// A ternary code by global index.
inline int8_t TernaryCode(size_t i) { return static_cast<int8_t>((i * 5 + i / 3) % 3) - 1; }

// Equal element by element; otherwise how many differ and the first mismatch.
template <typename T>
::testing::AssertionResult SameValues(const std::vector<T>& actual,
                                      const std::vector<T>& expected) {
  if (actual.size() != expected.size()) {
    return ::testing::AssertionFailure()
           << "size " << actual.size() << ", expected " << expected.size();
  }
  size_t mismatches = 0, first = 0;
  for (size_t i = 0; i < actual.size(); ++i) {
    if (actual[i] == expected[i]) continue;
    if (mismatches++ == 0) first = i;
  }
  if (mismatches == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << mismatches << " of " << actual.size() << " values differ; first at index " << first
         << ": got " << +actual[first] << ", expected " << +expected[first];
}

inline std::string Where(const Communicator& comm) {
  return absl::StrCat("rank ", comm.rank(), " of ", comm.size());
}

template <typename T, typename Value>
void CheckAllReduceOf(Communicator& comm, Value value) {
  for (size_t count : kAwkwardCounts) {
    for (ReduceOp op : {ReduceOp::kSum, ReduceOp::kMax}) {
      std::vector<T> data(count), expected(count);
      for (size_t i = 0; i < count; ++i) {
        data[i] = value(comm.rank(), i);
        expected[i] = value(0, i);
        for (int r = 1; r < comm.size(); ++r) {
          const T v = value(r, i);
          expected[i] = op == ReduceOp::kSum ? expected[i] + v : std::max(expected[i], v);
        }
      }
      EXPECT_THAT(comm.AllReduce(data.data(), count, op), IsOk());
      EXPECT_TRUE(SameValues(data, expected))
          << (op == ReduceOp::kSum ? "sum" : "max") << " of " << count << " elements";
    }
  }
}

inline void CheckAllReduce(Communicator& comm) {
  SCOPED_TRACE(Where(comm));
  CheckAllReduceOf<float>(comm, FloatValue);
  CheckAllReduceOf<double>(comm, DoubleValue);
}

// recv_counts[r] floats to rank r; send[j] = FloatValue(rank, j).
inline void CheckReduceScatterOf(Communicator& comm, const std::vector<size_t>& recv_counts,
                                 bool equal_chunks) {
  size_t total = 0, offset = 0;
  for (int r = 0; r < comm.size(); ++r) {
    if (r < comm.rank()) offset += recv_counts[r];
    total += recv_counts[r];
  }
  const size_t mine = recv_counts[comm.rank()];
  std::vector<float> send(total), recv(mine, -1.0f), expected(mine, 0.0f);
  for (size_t j = 0; j < total; ++j) send[j] = FloatValue(comm.rank(), j);
  for (size_t i = 0; i < mine; ++i) {
    for (int r = 0; r < comm.size(); ++r) expected[i] += FloatValue(r, offset + i);
  }
  if (equal_chunks) {
    EXPECT_THAT(comm.ReduceScatter(send.data(), recv.data(), mine), IsOk());
  } else {
    EXPECT_THAT(comm.ReduceScatter(send.data(), recv.data(), recv_counts), IsOk());
  }
  EXPECT_TRUE(SameValues(recv, expected)) << mine << " of " << total << " floats";
}

inline void CheckReduceScatter(Communicator& comm) {
  SCOPED_TRACE(Where(comm));
  for (size_t count : kAwkwardCounts) {
    CheckReduceScatterOf(comm, std::vector<size_t>(comm.size(), count), /*equal_chunks=*/true);
  }
  // Uneven shards: over the shifts every rank gets every awkward count, zero included.
  for (size_t shift = 0; shift < std::size(kAwkwardCounts); ++shift) {
    std::vector<size_t> counts(comm.size());
    for (int r = 0; r < comm.size(); ++r) {
      counts[r] = kAwkwardCounts[(r + shift) % std::size(kAwkwardCounts)];
    }
    CheckReduceScatterOf(comm, counts, /*equal_chunks=*/false);
  }
}

enum class GatherMode { kEqual, kUneven, kInPlace };

inline void CheckAllGatherOf(Communicator& comm, const std::vector<size_t>& send_bytes,
                             GatherMode mode) {
  size_t total = 0, offset = 0;
  std::vector<uint8_t> expected;
  for (int r = 0; r < comm.size(); ++r) {
    if (r < comm.rank()) offset += send_bytes[r];
    total += send_bytes[r];
    for (size_t i = 0; i < send_bytes[r]; ++i) expected.push_back(ByteValue(r, i));
  }
  const size_t mine = send_bytes[comm.rank()];
  std::vector<uint8_t> send(mine), recv(total, 0xEE);
  for (size_t i = 0; i < mine; ++i) send[i] = ByteValue(comm.rank(), i);
  switch (mode) {
    case GatherMode::kEqual:
      EXPECT_THAT(comm.AllGather(send.data(), recv.data(), mine), IsOk());
      break;
    case GatherMode::kUneven:
      EXPECT_THAT(comm.AllGather(send.data(), recv.data(), send_bytes), IsOk());
      break;
    case GatherMode::kInPlace:
      if (mine > 0) std::memcpy(recv.data() + offset, send.data(), mine);
      EXPECT_THAT(comm.AllGather(recv.data() + offset, recv.data(), send_bytes), IsOk());
      break;
  }
  EXPECT_TRUE(SameValues(recv, expected)) << total << " bytes, mode " << static_cast<int>(mode);
}

inline void CheckAllGather(Communicator& comm) {
  SCOPED_TRACE(Where(comm));
  for (size_t count : kAwkwardCounts) {
    CheckAllGatherOf(comm, std::vector<size_t>(comm.size(), count), GatherMode::kEqual);
  }
  for (size_t shift = 0; shift < std::size(kAwkwardCounts); ++shift) {
    std::vector<size_t> counts(comm.size());
    for (int r = 0; r < comm.size(); ++r) {
      counts[r] = kAwkwardCounts[(r + shift) % std::size(kAwkwardCounts)];
    }
    CheckAllGatherOf(comm, counts, GatherMode::kUneven);
    CheckAllGatherOf(comm, counts, GatherMode::kInPlace);
  }
}

// Sharded ternary codes: every shard but the last fills whole bytes, so the packed shards
// concatenate into the packed whole, which must unpack to the full code vector.
inline void CheckPackedTernaryAllGather(Communicator& comm) {
  SCOPED_TRACE(Where(comm));
  std::vector<int64_t> codes(comm.size());
  std::vector<size_t> bytes(comm.size());
  int64_t total = 0, first = 0;
  for (int r = 0; r < comm.size(); ++r) {
    codes[r] = 4 * (2500 + 7 * r) + (r == comm.size() - 1 ? 3 : 0);
    bytes[r] = static_cast<size_t>(PackedTernaryBytes(codes[r]));
    if (r < comm.rank()) first += codes[r];
    total += codes[r];
  }
  std::vector<int8_t> shard(codes[comm.rank()]), expected(total), unpacked(total);
  for (int64_t i = 0; i < codes[comm.rank()]; ++i) shard[i] = TernaryCode(first + i);
  for (int64_t i = 0; i < total; ++i) expected[i] = TernaryCode(i);
  std::vector<uint8_t> packed_shard(bytes[comm.rank()]);
  PackTernary(shard.data(), codes[comm.rank()], packed_shard.data());
  std::vector<uint8_t> packed(PackedTernaryBytes(total));
  EXPECT_THAT(comm.AllGather(packed_shard.data(), packed.data(), bytes), IsOk());
  UnpackTernary(packed.data(), total, unpacked.data());
  EXPECT_TRUE(SameValues(unpacked, expected));
}

inline void CheckBroadcast(Communicator& comm) {
  SCOPED_TRACE(Where(comm));
  for (int root : {comm.size() - 1, 1 % comm.size(), 0}) {
    for (size_t count : kAwkwardCounts) {
      std::vector<uint8_t> data(count), expected(count);
      for (size_t i = 0; i < count; ++i) {
        data[i] = ByteValue(comm.rank(), i);
        expected[i] = ByteValue(root, i);
      }
      EXPECT_THAT(comm.Broadcast(data.data(), count, root), IsOk());
      EXPECT_TRUE(SameValues(data, expected)) << count << " bytes from root " << root;
    }
  }
  EXPECT_THAT(comm.Barrier(), IsOk());
}

// The world ranks of `group`'s members in group rank order, learned by an all-gather.
inline std::vector<int32_t> MemberRanks(Communicator& group, int32_t world_rank) {
  std::vector<int32_t> members(group.size(), -1);
  EXPECT_THAT(group.AllGather(&world_rank, members.data(), sizeof(int32_t)), IsOk());
  return members;
}

inline void CheckSplit(Communicator& comm) {
  SCOPED_TRACE(Where(comm));
  // Same parity, ordered by descending rank (key = -rank).
  std::vector<int32_t> expected;
  for (int r = comm.size() - 1; r >= 0; --r) {
    if (r % 2 == comm.rank() % 2) expected.push_back(r);
  }
  absl::StatusOr<std::unique_ptr<Communicator>> group = comm.Split(comm.rank() % 2, -comm.rank());
  ASSERT_THAT(group, IsOk());
  Communicator& g = **group;
  EXPECT_EQ(g.size(), static_cast<int>(expected.size()));
  EXPECT_EQ(g.rank(), static_cast<int>(std::find(expected.begin(), expected.end(), comm.rank()) -
                                       expected.begin()));
  EXPECT_EQ(MemberRanks(g, comm.rank()), expected);
  float sum = static_cast<float>(comm.rank()), expected_sum = 0;
  for (int32_t r : expected) expected_sum += static_cast<float>(r);
  EXPECT_THAT(g.AllReduce(&sum, 1, ReduceOp::kSum), IsOk());
  EXPECT_EQ(sum, expected_sum);
  // A split of a split, one color, equal keys: the order of the parent.
  absl::StatusOr<std::unique_ptr<Communicator>> same = g.Split(7, 0);
  ASSERT_THAT(same, IsOk());
  EXPECT_EQ((*same)->rank(), g.rank());
  EXPECT_EQ(MemberRanks(**same, comm.rank()), expected);
}

// Every DP x TP factorization of the world: layout, membership of the groups, and collectives
// inside them (TP: MAX as for activation absmax; DP: sum as for gradients).
inline void CheckProcessGrids(Communicator& world) {
  SCOPED_TRACE(Where(world));
  for (int tp = 1; tp <= world.size(); ++tp) {
    if (world.size() % tp != 0) continue;
    const int dp = world.size() / tp;
    SCOPED_TRACE(absl::StrCat("dp=", dp, " tp=", tp));
    absl::StatusOr<ProcessGrid> grid = ProcessGrid::Create(world, dp, tp);
    ASSERT_THAT(grid, IsOk());
    const int dp_rank = world.rank() / tp, tp_rank = world.rank() % tp;
    EXPECT_EQ(grid->dp_rank(), dp_rank);
    EXPECT_EQ(grid->tp_rank(), tp_rank);
    EXPECT_EQ(grid->tp_group().size(), tp);
    EXPECT_EQ(grid->tp_group().rank(), tp_rank);
    EXPECT_EQ(grid->dp_group().size(), dp);
    EXPECT_EQ(grid->dp_group().rank(), dp_rank);
    std::vector<int32_t> tp_members, dp_members;
    for (int t = 0; t < tp; ++t) tp_members.push_back(dp_rank * tp + t);
    for (int d = 0; d < dp; ++d) dp_members.push_back(d * tp + tp_rank);
    EXPECT_EQ(MemberRanks(grid->tp_group(), world.rank()), tp_members);
    EXPECT_EQ(MemberRanks(grid->dp_group(), world.rank()), dp_members);
    float absmax = 1.5f * static_cast<float>(world.rank());
    EXPECT_THAT(grid->tp_group().AllReduce(&absmax, 1, ReduceOp::kMax), IsOk());
    EXPECT_EQ(absmax, 1.5f * static_cast<float>(tp_members.back()));
    double grad = world.rank() + 0.5, expected_grad = 0;
    for (int32_t r : dp_members) expected_grad += r + 0.5;
    EXPECT_THAT(grid->dp_group().AllReduce(&grad, 1, ReduceOp::kSum), IsOk());
    EXPECT_EQ(grad, expected_grad);
  }
}

// Invalid calls fail locally with InvalidArgument on every rank and leave the communicator
// usable.
inline void CheckInvalidArguments(Communicator& comm) {
  SCOPED_TRACE(Where(comm));
  uint8_t byte = 0;
  EXPECT_THAT(comm.Broadcast(&byte, 1, comm.size()),
              StatusIs(absl::StatusCode::kInvalidArgument, "root must be in"));
  EXPECT_THAT(comm.Broadcast(&byte, 1, -1),
              StatusIs(absl::StatusCode::kInvalidArgument, "Broadcast(1 bytes from root -1)"));
  float f = 0;
  const std::vector<size_t> wrong(comm.size() + 1, 0);
  EXPECT_THAT(comm.ReduceScatter(&f, &f, wrong),
              StatusIs(absl::StatusCode::kInvalidArgument, "per-rank counts"));
  std::vector<float> send(comm.size() * 2);
  EXPECT_THAT(comm.ReduceScatter(send.data(), send.data() + 1, 2),
              StatusIs(absl::StatusCode::kInvalidArgument, "overlap"));
  std::vector<uint8_t> recv(comm.size() * 4 + 1);
  EXPECT_THAT(comm.AllGather(recv.data() + 4 * comm.rank() + 1, recv.data(), 4),
              StatusIs(absl::StatusCode::kInvalidArgument, "overlaps"));
  EXPECT_THAT(comm.AllReduce(static_cast<float*>(nullptr), 3, ReduceOp::kSum),
              StatusIs(absl::StatusCode::kInvalidArgument, "null"));
  EXPECT_THAT(comm.Split(-1, 0), StatusIs(absl::StatusCode::kInvalidArgument, "color"));
  EXPECT_THAT(comm.Barrier(), IsOk());
}

}  // namespace dqt::testing
