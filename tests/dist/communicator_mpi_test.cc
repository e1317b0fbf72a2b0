// The MPI backend under mpirun (np 2 and 4): every collective against locally computed values,
// also with small per-call limits that force the split paths; grids and splits; MPI errors as
// Status. main: tests/testing/mpi_test_main.cc.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "dist/mpi_communicator.h"
#include "dist/process_grid.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/dist/collective_cases.h"
#include "tests/testing/mpi_world.h"
#include "tests/testing/status_matchers.h"

namespace dqt {
namespace {

using testing::IsOk;
using testing::StatusIs;

using testing::g_world;
using testing::g_world_in_pieces;

TEST(MpiCommunicator, AllReduceSumAndMax) {
  testing::CheckAllReduce(*g_world);
  testing::CheckAllReduce(*g_world_in_pieces);
}

TEST(MpiCommunicator, ReduceScatterEqualAndUneven) {
  testing::CheckReduceScatter(*g_world);
  testing::CheckReduceScatter(*g_world_in_pieces);
}

TEST(MpiCommunicator, AllGatherEqualUnevenAndInPlace) {
  testing::CheckAllGather(*g_world);
  testing::CheckAllGather(*g_world_in_pieces);
}

TEST(MpiCommunicator, AllGatherOfPackedTernaryShards) {
  testing::CheckPackedTernaryAllGather(*g_world);
}

TEST(MpiCommunicator, BroadcastFromEveryKindOfRoot) {
  testing::CheckBroadcast(*g_world);
  testing::CheckBroadcast(*g_world_in_pieces);
}

TEST(MpiCommunicator, Split) { testing::CheckSplit(*g_world); }

TEST(MpiCommunicator, ProcessGrids) { testing::CheckProcessGrids(*g_world); }

TEST(MpiCommunicator, TwoByTwoGrid) {
  if (g_world->size() != 4) GTEST_SKIP() << "needs 4 ranks";
  absl::StatusOr<ProcessGrid> grid = ProcessGrid::Create(*g_world, 2, 2);
  ASSERT_THAT(grid, IsOk());
  constexpr int kDpRank[4] = {0, 0, 1, 1}, kTpRank[4] = {0, 1, 0, 1};
  EXPECT_EQ(grid->dp_rank(), kDpRank[g_world->rank()]);
  EXPECT_EQ(grid->tp_rank(), kTpRank[g_world->rank()]);
  // Sharded-update shape: reduce-scatter over DP, then all-gather the shards back.
  std::vector<float> grads(6), shard(3);
  for (int i = 0; i < 6; ++i) grads[i] = static_cast<float>(g_world->rank() * 10 + i);
  ASSERT_THAT(grid->dp_group().ReduceScatter(grads.data(), shard.data(), 3), IsOk());
  const int other = (1 - grid->dp_rank()) * 2 + grid->tp_rank();
  for (int i = 0; i < 3; ++i) {
    const int j = grid->dp_rank() * 3 + i;
    EXPECT_EQ(shard[i], static_cast<float>(g_world->rank() * 10 + j + other * 10 + j));
  }
  std::vector<float> gathered(6);
  ASSERT_THAT(grid->dp_group().AllGather(shard.data(), gathered.data(), 3 * sizeof(float)), IsOk());
  for (int j = 0; j < 6; ++j) {
    EXPECT_EQ(gathered[j], static_cast<float>(g_world->rank() * 10 + other * 10 + 2 * j));
  }
}

TEST(MpiCommunicator, InvalidArgumentsFailLocally) { testing::CheckInvalidArguments(*g_world); }

TEST(MpiCommunicator, MpiErrorsComeBackAsStatus) {
  // Without MPI_ERRORS_RETURN on the communicator this call would abort the job.
  auto bad_root = [](MPI_Comm comm, int size) -> absl::Status {
    char byte = 0;
    DQT_MPI_CHECK(MPI_Bcast(&byte, 1, MPI_BYTE, size + 3, comm));
    return absl::OkStatus();
  };
  EXPECT_THAT(bad_root(g_world->comm(), g_world->size()),
              StatusIs(absl::StatusCode::kInvalidArgument, "MPI_Bcast"));
  EXPECT_THAT(g_world->Barrier(), IsOk());
}

TEST(MpiError, ArgumentClassesAreInvalidArgument) {
  EXPECT_THAT(MpiError(MPI_ERR_COUNT, "MPI_Allreduce(x)", "f.cc", 12),
              StatusIs(absl::StatusCode::kInvalidArgument, "MPI_Allreduce(x) failed (f.cc:12)"));
  EXPECT_THAT(MpiError(MPI_ERR_INTERN, "MPI_Barrier(c)", "f.cc", 3),
              StatusIs(absl::StatusCode::kInternal, "MPI_Barrier(c) failed"));
}

TEST(MpiCommunicator, AdoptRejectsBadArguments) {
  EXPECT_THAT(MpiCommunicator::Adopt(MPI_COMM_NULL),
              StatusIs(absl::StatusCode::kInvalidArgument, "MPI_COMM_NULL"));
  MPI_Comm dup = MPI_COMM_NULL;
  ASSERT_EQ(MPI_Comm_dup(g_world->comm(), &dup), MPI_SUCCESS);
  EXPECT_THAT(MpiCommunicator::Adopt(dup, {.max_count_per_call = 0}),
              StatusIs(absl::StatusCode::kInvalidArgument, "max_count_per_call"));
}

TEST(MpiCommunicator, AdoptRejectsANegativeTimeout) {
  MPI_Comm dup = MPI_COMM_NULL;
  ASSERT_EQ(MPI_Comm_dup(g_world->comm(), &dup), MPI_SUCCESS);
  EXPECT_THAT(MpiCommunicator::Adopt(dup, {.collective_timeout_s = -1}),
              StatusIs(absl::StatusCode::kInvalidArgument, "collective_timeout_s must be >= 0"));
}

// The watchdog's bounded wait on a healthy world: results as without it, on it and on a split.
// (Its firing is tests/dist/watchdog_test.sh: a stopped rank cannot be staged in-process.)
TEST(MpiCommunicator, CollectivesUnderATimeoutComplete) {
  MPI_Comm dup = MPI_COMM_NULL;
  ASSERT_EQ(MPI_Comm_dup(g_world->comm(), &dup), MPI_SUCCESS);
  absl::StatusOr<std::unique_ptr<MpiCommunicator>> comm =
      MpiCommunicator::Adopt(dup, {.collective_timeout_s = 60});
  ASSERT_THAT(comm.status(), IsOk());
  const int n = (*comm)->size();
  std::vector<double> sum(5, (*comm)->rank() + 1.0);
  ASSERT_THAT((*comm)->AllReduce(sum.data(), sum.size(), ReduceOp::kSum), IsOk());
  EXPECT_THAT(sum, ::testing::Each(n * (n + 1) / 2.0));
  ASSERT_THAT((*comm)->Barrier(), IsOk());
  absl::StatusOr<std::unique_ptr<Communicator>> half = (*comm)->Split((*comm)->rank() % 2, 0);
  ASSERT_THAT(half.status(), IsOk());
  int root_rank = (*comm)->rank();
  ASSERT_THAT((*half)->Broadcast(&root_rank, sizeof(root_rank), 0), IsOk());
  EXPECT_EQ(root_rank, (*comm)->rank() % 2);
}

}  // namespace
}  // namespace dqt
