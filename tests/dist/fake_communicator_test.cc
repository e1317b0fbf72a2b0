// The fake backend: the shared collective cases (the MPI test's) on 1 to 4 thread ranks, fixed
// rank-order reduction, and failures (injected, mismatched calls, a missing peer) surfacing as
// errors on every rank instead of a deadlock.
#include "dist/fake_communicator.h"

#include <chrono>
#include <thread>

#include "gtest/gtest.h"
#include "tests/dist/collective_cases.h"
#include "tests/testing/status_matchers.h"

namespace dqt {
namespace {

using testing::IsOk;
using testing::StatusIs;

// Runs `check` on every rank of fake worlds of 1, 2, 3 (not a power of two) and 4 ranks.
void OnWorldsOfOneToFourRanks(void (*check)(Communicator&)) {
  for (int size = 1; size <= 4; ++size) {
    auto world = FakeCommunicator::CreateWorld(size);
    RunOnRankThreads(world, [check](FakeCommunicator& comm) { check(comm); });
  }
}

TEST(FakeCommunicator, AllReduceSumAndMax) { OnWorldsOfOneToFourRanks(testing::CheckAllReduce); }

TEST(FakeCommunicator, ReduceScatterEqualAndUneven) {
  OnWorldsOfOneToFourRanks(testing::CheckReduceScatter);
}

TEST(FakeCommunicator, AllGatherEqualUnevenAndInPlace) {
  OnWorldsOfOneToFourRanks(testing::CheckAllGather);
}

TEST(FakeCommunicator, AllGatherOfPackedTernaryShards) {
  OnWorldsOfOneToFourRanks(testing::CheckPackedTernaryAllGather);
}

TEST(FakeCommunicator, BroadcastFromEveryKindOfRoot) {
  OnWorldsOfOneToFourRanks(testing::CheckBroadcast);
}

TEST(FakeCommunicator, Split) { OnWorldsOfOneToFourRanks(testing::CheckSplit); }

TEST(FakeCommunicator, ProcessGrids) { OnWorldsOfOneToFourRanks(testing::CheckProcessGrids); }

TEST(FakeCommunicator, InvalidArgumentsFailLocally) {
  OnWorldsOfOneToFourRanks(testing::CheckInvalidArguments);
}

TEST(FakeCommunicator, SumsInRankOrder) {
  // (1e8 + -1e8) + 1 = 1, whereas 1e8 + (-1e8 + 1) would round to 0 in f32.
  constexpr float kValues[3] = {1e8f, -1e8f, 1.0f};
  auto world = FakeCommunicator::CreateWorld(3);
  RunOnRankThreads(world, [&](FakeCommunicator& comm) {
    float x = kValues[comm.rank()];
    EXPECT_THAT(comm.AllReduce(&x, 1, ReduceOp::kSum), IsOk());
    EXPECT_EQ(x, 1.0f);
  });
}

// Rank `failing` fails collective #1 of three; `late` sleeps before it so that the failure
// happens both while peers wait and before they arrive.
void CheckInjectedFailure(int failing, bool failing_rank_is_late) {
  SCOPED_TRACE(::testing::Message()
               << "failing rank " << failing << (failing_rank_is_late ? " (late)" : " (early)"));
  auto world = FakeCommunicator::CreateWorld(4);
  world[failing]->InjectFailure(1);
  RunOnRankThreads(world, [&](FakeCommunicator& comm) {
    float x = 1.0f;
    EXPECT_THAT(comm.AllReduce(&x, 1, ReduceOp::kSum), IsOk());
    EXPECT_EQ(x, 4.0f);
    if ((comm.rank() == failing) == failing_rank_is_late) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    const absl::Status second = comm.AllReduce(&x, 1, ReduceOp::kMax);
    if (comm.rank() == failing) {
      EXPECT_THAT(second,
                  StatusIs(absl::StatusCode::kInternal, "injected failure in collective #1"));
    } else {
      EXPECT_THAT(second, StatusIs(absl::StatusCode::kUnavailable,
                                   absl::StrCat("peer rank ", failing, " failed")));
    }
    EXPECT_THAT(second, StatusIs(second.code(), "AllReduce(f32 max, 1 elements) on rank"));
    // The world stays broken.
    EXPECT_FALSE(comm.Barrier().ok());
  });
}

TEST(FakeCommunicator, InjectedFailureIsAnErrorOnEveryRank) {
  for (int failing : {0, 2}) {
    CheckInjectedFailure(failing, /*failing_rank_is_late=*/false);
    CheckInjectedFailure(failing, /*failing_rank_is_late=*/true);
  }
}

TEST(FakeCommunicator, InjectedFailureInASplitGroup) {
  auto world = FakeCommunicator::CreateWorld(4);
  RunOnRankThreads(world, [](FakeCommunicator& comm) {
    absl::StatusOr<std::unique_ptr<Communicator>> half = comm.Split(comm.rank() / 2, 0);
    ASSERT_THAT(half, IsOk());
    // Ranks 2 and 3 fail their group by a mismatched call; ranks 0 and 1 are not affected.
    float x[2] = {1.0f, 2.0f};
    const size_t count = comm.rank() == 3 ? 2 : 1;
    const absl::Status status = (*half)->AllReduce(x, count, ReduceOp::kSum);
    if (comm.rank() < 2) {
      EXPECT_THAT(status, IsOk());
    } else {
      EXPECT_THAT(status, StatusIs(absl::StatusCode::kInvalidArgument, "ranks disagree"));
    }
    EXPECT_THAT(comm.Barrier(), IsOk());
  });
}

TEST(FakeCommunicator, MismatchedCollectivesFailOnEveryRank) {
  auto world = FakeCommunicator::CreateWorld(2);
  RunOnRankThreads(world, [](FakeCommunicator& comm) {
    uint8_t data[8] = {};
    const absl::Status status = comm.rank() == 0 ? comm.Broadcast(data, 8, 0) : comm.Barrier();
    EXPECT_THAT(status, StatusIs(absl::StatusCode::kInvalidArgument,
                                 "rank 0 called Broadcast(8 bytes, root 0), rank 1 Barrier"));
  });
}

TEST(FakeCommunicator, MissingPeerTimesOutInsteadOfHanging) {
  auto world = FakeCommunicator::CreateWorld(3, {.timeout = std::chrono::milliseconds(200)});
  RunOnRankThreads(world, [](FakeCommunicator& comm) {
    if (comm.rank() == 1) return;  // never joins
    EXPECT_THAT(comm.Barrier(),
                StatusIs(absl::StatusCode::kDeadlineExceeded, "waiting for rank(s) 1"));
  });
}

}  // namespace
}  // namespace dqt
