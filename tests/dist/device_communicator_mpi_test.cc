// Device backends under mpirun (np 2 and 4), every rank on the GPU its local rank selects:
// HostStagedCommunicator over MPI (ranks may share a GPU); NCCL across ranks when each has a GPU
// of its own, and NCCL's refusal of a shared GPU as a Status when not. Skips without a CUDA
// device. main: tests/testing/mpi_test_main.cc.
#include "gtest/gtest.h"

#if defined(DQT_HAVE_CUDA)
#include <memory>
#include <utility>

#include "dist/communicator.h"
#include "dist/host_staged_communicator.h"
#include "kernels/device.h"
#include "launch/process_env.h"
#include "tests/dist/collective_cases.h"
#include "tests/testing/device_round_trip.h"
#include "tests/testing/mpi_world.h"
#include "tests/testing/status_matchers.h"
#if defined(DQT_HAVE_NCCL)
#include "dist/nccl_communicator.h"
#endif

namespace dqt {
namespace {

using testing::g_world;
using testing::IsOk;

// Whether any rank of the world shares its GPU with another rank of its node (every rank
// computes the same answer).
bool RanksShareAGpu() {
  float shared = DiscoverProcessEnv().local_rank >= CudaDeviceCount() ? 1.0f : 0.0f;
  EXPECT_THAT(g_world->AllReduce(&shared, 1, ReduceOp::kMax), IsOk());
  return shared != 0.0f;
}

class HostStagedMpi : public ::testing::Test {
 protected:
  void SetUp() override {
    if (CudaDeviceCount() == 0) GTEST_SKIP() << "no CUDA device";
    ASSERT_THAT(SelectCudaDeviceForLocalRank(DiscoverProcessEnv().local_rank), IsOk());
    // A world of its own (the split is collective), owned by the staged communicator.
    absl::StatusOr<std::unique_ptr<Communicator>> world = g_world->Split(0, g_world->rank());
    ASSERT_THAT(world, IsOk());
    comm_ = std::make_unique<testing::DeviceRoundTrip>(
        std::make_unique<HostStagedCommunicator>(*std::move(world)));
  }

  std::unique_ptr<testing::DeviceRoundTrip> comm_;
};

TEST_F(HostStagedMpi, AllReduceSumAndMax) { testing::CheckAllReduce(*comm_); }

TEST_F(HostStagedMpi, ReduceScatterEqualAndUneven) { testing::CheckReduceScatter(*comm_); }

TEST_F(HostStagedMpi, AllGatherEqualUnevenAndInPlace) { testing::CheckAllGather(*comm_); }

TEST_F(HostStagedMpi, AllGatherOfPackedTernaryShards) {
  testing::CheckPackedTernaryAllGather(*comm_);
}

TEST_F(HostStagedMpi, BroadcastAndBarrier) { testing::CheckBroadcast(*comm_); }

TEST_F(HostStagedMpi, Split) { testing::CheckSplit(*comm_); }

TEST_F(HostStagedMpi, ProcessGrids) { testing::CheckProcessGrids(*comm_); }

#if defined(DQT_HAVE_NCCL)
// Parameter: NcclOptions::always_per_root.
class NcclMpi : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    if (CudaDeviceCount() == 0) GTEST_SKIP() << "no CUDA device";
    if (RanksShareAGpu()) GTEST_SKIP() << "ranks share a GPU, which NCCL refuses";
    ASSERT_THAT(SelectCudaDeviceForLocalRank(DiscoverProcessEnv().local_rank), IsOk());
    absl::StatusOr<std::unique_ptr<NcclCommunicator>> nccl =
        NcclCommunicator::Create(*g_world, {.always_per_root = GetParam()});
    ASSERT_THAT(nccl, IsOk());
    comm_ = std::make_unique<testing::DeviceRoundTrip>(*std::move(nccl));
  }

  std::unique_ptr<testing::DeviceRoundTrip> comm_;
};

TEST_P(NcclMpi, AllReduceSumAndMax) { testing::CheckAllReduce(*comm_); }

TEST_P(NcclMpi, ReduceScatterEqualAndUneven) { testing::CheckReduceScatter(*comm_); }

TEST_P(NcclMpi, AllGatherEqualUnevenAndInPlace) { testing::CheckAllGather(*comm_); }

TEST_P(NcclMpi, AllGatherOfPackedTernaryShards) { testing::CheckPackedTernaryAllGather(*comm_); }

TEST_P(NcclMpi, BroadcastAndBarrier) { testing::CheckBroadcast(*comm_); }

TEST_P(NcclMpi, Split) { testing::CheckSplit(*comm_); }

TEST_P(NcclMpi, ProcessGrids) { testing::CheckProcessGrids(*comm_); }

INSTANTIATE_TEST_SUITE_P(Paths, NcclMpi, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "PerRoot" : "Native";
                         });

// NCCL's "Duplicate GPU detected" comes back on every rank as a Status, with no rank left
// waiting, and the bootstrap stays usable.
TEST(NcclSharedGpu, CreateFailsOnEveryRank) {
  if (CudaDeviceCount() == 0) GTEST_SKIP() << "no CUDA device";
  if (!RanksShareAGpu()) GTEST_SKIP() << "every rank has a GPU of its own";
  ASSERT_THAT(SelectCudaDeviceForLocalRank(DiscoverProcessEnv().local_rank), IsOk());
  absl::StatusOr<std::unique_ptr<NcclCommunicator>> nccl = NcclCommunicator::Create(*g_world);
  EXPECT_THAT(nccl, testing::StatusIs(absl::StatusCode::kFailedPrecondition, "Duplicate GPU"));
  EXPECT_THAT(nccl.status().message(), ::testing::HasSubstr("ncclCommInitRank"));
  EXPECT_THAT(g_world->Barrier(), IsOk());
}
#endif

}  // namespace
}  // namespace dqt

#else
TEST(DeviceCommunicatorMpi, HostStaged) { GTEST_SKIP() << "built without CUDA"; }
#endif
