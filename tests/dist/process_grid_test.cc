// ProcessGrid on the fake backend: rank layout of DP x TP grids (TP ranks adjacent), group
// membership, and invalid layouts rejected on every rank with a message naming the problem.
#include "dist/process_grid.h"

#include <string>

#include "dist/fake_communicator.h"
#include "gtest/gtest.h"
#include "tests/dist/collective_cases.h"
#include "tests/testing/status_matchers.h"

namespace dqt {
namespace {

using testing::IsOk;
using testing::StatusIs;

TEST(ProcessGrid, LayoutOfEveryGridUpToEightRanks) {
  for (int size : {1, 2, 4, 6, 8}) {
    auto world = FakeCommunicator::CreateWorld(size);
    RunOnRankThreads(world, [](FakeCommunicator& comm) { testing::CheckProcessGrids(comm); });
  }
}

TEST(ProcessGrid, FourByTwo) {
  auto world = FakeCommunicator::CreateWorld(8);
  RunOnRankThreads(world, [](FakeCommunicator& comm) {
    absl::StatusOr<ProcessGrid> grid = ProcessGrid::Create(comm, /*dp=*/4, /*tp=*/2);
    ASSERT_THAT(grid, IsOk());
    // world rank:  0 1 2 3 4 5 6 7
    // dp_rank:     0 0 1 1 2 2 3 3
    // tp_rank:     0 1 0 1 0 1 0 1
    constexpr int kDpRank[8] = {0, 0, 1, 1, 2, 2, 3, 3};
    EXPECT_EQ(grid->dp(), 4);
    EXPECT_EQ(grid->tp(), 2);
    EXPECT_EQ(grid->dp_rank(), kDpRank[comm.rank()]);
    EXPECT_EQ(grid->tp_rank(), comm.rank() % 2);
    EXPECT_EQ(&grid->world(), &comm);
  });
}

void ExpectRejectedOnEveryRank(int size, int dp, int tp, const std::string& message) {
  SCOPED_TRACE(::testing::Message() << size << " ranks, dp=" << dp << " tp=" << tp);
  auto world = FakeCommunicator::CreateWorld(size);
  RunOnRankThreads(world, [&](FakeCommunicator& comm) {
    EXPECT_THAT(ProcessGrid::Create(comm, dp, tp),
                StatusIs(absl::StatusCode::kInvalidArgument, message));
  });
}

TEST(ProcessGrid, RejectsInvalidLayouts) {
  ExpectRejectedOnEveryRank(4, 3, 2, "dp=3 x tp=2 = 6 ranks, but the world has 4");
  ExpectRejectedOnEveryRank(4, 1, 2, "dp=1 x tp=2 = 2 ranks, but the world has 4");
  ExpectRejectedOnEveryRank(2, 0, 2, "dp and tp must be >= 1, got dp=0 tp=2");
  ExpectRejectedOnEveryRank(2, 2, -1, "dp and tp must be >= 1, got dp=2 tp=-1");
  ExpectRejectedOnEveryRank(1, 65536, 65536, "but the world has 1");
}

TEST(ProcessGrid, RanksThatDisagreeFailTogether) {
  // Rank 0 asks for 4x1, the others for 2x2: both are valid locally, so only the agreement check
  // can catch it, and no rank may be left waiting in a split.
  auto world = FakeCommunicator::CreateWorld(4);
  RunOnRankThreads(world, [](FakeCommunicator& comm) {
    const int dp = comm.rank() == 0 ? 4 : 2;
    EXPECT_THAT(ProcessGrid::Create(comm, dp, 4 / dp),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         "ranks disagree on the layout: dp in [2, 4], tp in [1, 2]"));
    EXPECT_THAT(comm.Barrier(), IsOk());
  });
}

}  // namespace
}  // namespace dqt
