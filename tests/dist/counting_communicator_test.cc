// The counting decorator: collectives still give the inner backend's results (the shared cases),
// and the tallies are the payload and ring-algorithm bytes of what each rank passed, Split
// children counting into the same tally.
#include "dist/counting_communicator.h"

#include <vector>

#include "dist/fake_communicator.h"
#include "gtest/gtest.h"
#include "tests/dist/collective_cases.h"
#include "tests/testing/status_matchers.h"

namespace dqt {
namespace {

using testing::IsOk;

void OnCountedWorld(int size, const std::function<void(CountingCommunicator&)>& check) {
  auto world = FakeCommunicator::CreateWorld(size);
  RunOnRankThreads(world, [&](FakeCommunicator& comm) {
    CountingCommunicator counting(comm);
    check(counting);
  });
}

TEST(CountingCommunicator, ForwardsEveryCollective) {
  for (int size : {1, 3}) {
    OnCountedWorld(size, [](CountingCommunicator& c) {
      testing::CheckAllReduce(c);
      testing::CheckReduceScatter(c);
      testing::CheckAllGather(c);
    });
  }
}

TEST(CountingCommunicator, TalliesPayloadAndRingBytes) {
  OnCountedWorld(3, [](CountingCommunicator& c) {
    const int r = c.rank();
    std::vector<float> x(12, 1.0f);
    ASSERT_THAT(c.AllReduce(x.data(), x.size(), ReduceOp::kSum), IsOk());
    EXPECT_EQ(x[0], 3.0f);
    // Reduce-scatter of 1 + 2 + 3 floats: every rank sends 6 floats' share.
    std::vector<float> send(6, 1.0f), recv(3);
    const std::vector<size_t> counts = {1, 2, 3};
    ASSERT_THAT(c.ReduceScatter(send.data(), recv.data(), counts), IsOk());
    // All-gather of r + 1 bytes from rank r.
    std::vector<char> mine(r + 1, 'a'), all(6);
    const std::vector<size_t> bytes = {1, 2, 3};
    ASSERT_THAT(c.AllGather(mine.data(), all.data(), bytes), IsOk());
    const CommCounts& n = c.counts();
    EXPECT_EQ(n.all_reduce.calls, 1);
    EXPECT_EQ(n.all_reduce.payload_bytes, 48);
    EXPECT_EQ(n.all_reduce.ring_bytes, 2 * 2 * 48 / 3);
    EXPECT_EQ(n.reduce_scatter.payload_bytes, 24);
    EXPECT_EQ(n.reduce_scatter.ring_bytes, 2 * 24 / 3);
    EXPECT_EQ(n.all_gather.payload_bytes, r + 1);
    EXPECT_EQ(n.all_gather.ring_bytes, 2 * (r + 1));
    EXPECT_EQ(n.ring_bytes(), 64 + 16 + 2 * (r + 1));
    // A sub-communicator counts into the same tally.
    absl::StatusOr<std::unique_ptr<Communicator>> half = c.Split(r == 0 ? 0 : 1, r);
    ASSERT_THAT(half, IsOk());
    double d = 1;
    ASSERT_THAT((*half)->AllReduce(&d, 1, ReduceOp::kMax), IsOk());
    EXPECT_EQ(c.counts().all_reduce.calls, 2);
    EXPECT_EQ(c.counts().all_reduce.payload_bytes, 48 + 8);
    c.Reset();
    EXPECT_EQ(c.counts().ring_bytes(), 0);
  });
}

}  // namespace
}  // namespace dqt
