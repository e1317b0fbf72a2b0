// SingleProcessCommunicator, the trainer's world of one: the shared collective cases hold with
// identity collectives.
#include "dist/communicator.h"

#include "gtest/gtest.h"
#include "tests/dist/collective_cases.h"

namespace dqt {
namespace {

TEST(SingleProcessCommunicator, PassesTheSharedCollectiveCases) {
  SingleProcessCommunicator comm;
  testing::CheckAllReduce(comm);
  testing::CheckReduceScatter(comm);
  testing::CheckAllGather(comm);
  testing::CheckPackedTernaryAllGather(comm);
  testing::CheckBroadcast(comm);
  testing::CheckSplit(comm);
  testing::CheckProcessGrids(comm);
  testing::CheckInvalidArguments(comm);
}

}  // namespace
}  // namespace dqt
