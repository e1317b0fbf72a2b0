// The NCCL backend with one rank on device buffers: every collective of collective_cases.h
// through the native and the per-root (uneven-count) paths, split, grids, direct device use;
// NCCL/CUDA errors as Status. Skips without a CUDA device or without NCCL in the build.
#include "gtest/gtest.h"

#if defined(DQT_HAVE_NCCL)
#include <cuda_runtime.h>

#include <memory>
#include <vector>

#include "dist/communicator.h"
#include "dist/nccl_communicator.h"
#include "kernels/device.h"
#include "tests/dist/collective_cases.h"
#include "tests/testing/device_round_trip.h"
#include "tests/testing/status_matchers.h"

namespace dqt {
namespace {

using testing::IsOk;
using testing::StatusIs;

// One rank on device 0, bootstrapped by the single-process communicator.
absl::StatusOr<std::unique_ptr<NcclCommunicator>> OneRank(NcclOptions options) {
  DQT_ASSIGN_OR_RETURN(const int device, SelectCudaDeviceForLocalRank(0));
  if (device != 0) return absl::InternalError("local rank 0 did not get device 0");
  SingleProcessCommunicator bootstrap;
  return NcclCommunicator::Create(bootstrap, options);
}

// Parameter: NcclOptions::always_per_root.
class NcclOneRankGpu : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    if (CudaDeviceCount() == 0) GTEST_SKIP() << "no CUDA device";
    absl::StatusOr<std::unique_ptr<NcclCommunicator>> nccl =
        OneRank({.always_per_root = GetParam()});
    ASSERT_THAT(nccl, IsOk());
    comm_ = std::make_unique<testing::DeviceRoundTrip>(*std::move(nccl));
  }

  std::unique_ptr<testing::DeviceRoundTrip> comm_;
};

TEST_P(NcclOneRankGpu, AllReduceSumAndMax) { testing::CheckAllReduce(*comm_); }

TEST_P(NcclOneRankGpu, ReduceScatterEqualAndUneven) { testing::CheckReduceScatter(*comm_); }

TEST_P(NcclOneRankGpu, AllGatherEqualUnevenAndInPlace) { testing::CheckAllGather(*comm_); }

TEST_P(NcclOneRankGpu, AllGatherOfPackedTernaryShards) {
  testing::CheckPackedTernaryAllGather(*comm_);
}

TEST_P(NcclOneRankGpu, BroadcastAndBarrier) { testing::CheckBroadcast(*comm_); }

TEST_P(NcclOneRankGpu, Split) { testing::CheckSplit(*comm_); }

TEST_P(NcclOneRankGpu, ProcessGrids) { testing::CheckProcessGrids(*comm_); }

INSTANTIATE_TEST_SUITE_P(Paths, NcclOneRankGpu, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "PerRoot" : "Native";
                         });

// Without the round trip: device pointers straight in. A call waits for the work queued before
// it on the legacy default stream, even where NCCL has nothing to do (one rank, in place): a
// large asynchronous upload queued there just before must have landed when a reader on a
// non-blocking stream looks right after the call.
TEST(NcclCommunicatorGpu, DevicePointersAfterLegacyStreamWork) {
  if (CudaDeviceCount() == 0) GTEST_SKIP() << "no CUDA device";
  absl::StatusOr<std::unique_ptr<NcclCommunicator>> nccl = OneRank({});
  ASSERT_THAT(nccl, IsOk());
  NcclCommunicator& comm = **nccl;
  EXPECT_EQ(comm.rank(), 0);
  EXPECT_EQ(comm.size(), 1);
  EXPECT_EQ(comm.device(), 0);
  constexpr size_t kCount = size_t{1} << 26;  // 256 MiB: milliseconds of copying
  constexpr size_t kBytes = kCount * sizeof(float);
  // Pinned both ways, so that neither copy synchronizes with anything by itself.
  float *pinned = nullptr, *back = nullptr, *d = nullptr;
  ASSERT_EQ(cudaMallocHost(&pinned, kBytes), cudaSuccess);
  ASSERT_EQ(cudaMallocHost(&back, kBytes), cudaSuccess);
  ASSERT_EQ(cudaMalloc(&d, kBytes), cudaSuccess);
  ASSERT_EQ(cudaMemset(d, 0, kBytes), cudaSuccess);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  std::vector<float> expected(kCount);
  for (size_t i = 0; i < kCount; ++i) expected[i] = pinned[i] = testing::FloatValue(0, i);
  ASSERT_EQ(cudaMemcpyAsync(d, pinned, kBytes, cudaMemcpyHostToDevice, cudaStreamLegacy),
            cudaSuccess);
  EXPECT_THAT(comm.AllReduce(d, kCount, ReduceOp::kMax), IsOk());
  cudaStream_t other = nullptr;
  ASSERT_EQ(cudaStreamCreateWithFlags(&other, cudaStreamNonBlocking), cudaSuccess);
  ASSERT_EQ(cudaMemcpyAsync(back, d, kBytes, cudaMemcpyDeviceToHost, other), cudaSuccess);
  ASSERT_EQ(cudaStreamSynchronize(other), cudaSuccess);
  EXPECT_TRUE(testing::SameValues(std::vector<float>(back, back + kCount), expected));
  EXPECT_THAT(comm.Barrier(), IsOk());
  EXPECT_EQ(cudaStreamDestroy(other), cudaSuccess);
  EXPECT_EQ(cudaFree(d), cudaSuccess);
  EXPECT_EQ(cudaFreeHost(pinned), cudaSuccess);
  EXPECT_EQ(cudaFreeHost(back), cudaSuccess);
}

// A machine without a GPU fails creation with a Status, not a crash or a hang.
TEST(NcclCommunicator, CreateWithoutDeviceFails) {
  if (CudaDeviceCount() > 0) GTEST_SKIP() << "a CUDA device is present";
  SingleProcessCommunicator bootstrap;
  absl::StatusOr<std::unique_ptr<NcclCommunicator>> nccl = NcclCommunicator::Create(bootstrap);
  EXPECT_THAT(nccl, StatusIs(absl::StatusCode::kFailedPrecondition, "cudaGetDevice"));
  EXPECT_THAT(SelectCudaDeviceForLocalRank(0),
              StatusIs(absl::StatusCode::kFailedPrecondition, "no CUDA device"));
}

TEST(NcclError, CodesMapToStatus) {
  EXPECT_THAT(NcclError(ncclInvalidArgument, "ncclAllReduce(x)", "f.cc", 12),
              StatusIs(absl::StatusCode::kInvalidArgument, "ncclAllReduce(x) failed (f.cc:12)"));
  EXPECT_THAT(NcclError(ncclInvalidUsage, "ncclCommInitRank(c)", "f.cc", 3),
              StatusIs(absl::StatusCode::kFailedPrecondition, "ncclCommInitRank(c) failed"));
  EXPECT_THAT(NcclError(ncclRemoteError, "ncclGroupEnd()", "f.cc", 4),
              StatusIs(absl::StatusCode::kUnavailable, "ncclGroupEnd() failed"));
  EXPECT_THAT(NcclError(ncclSystemError, "ncclBroadcast(b)", "f.cc", 5),
              StatusIs(absl::StatusCode::kInternal, ncclGetErrorString(ncclSystemError)));
}

TEST(CudaError, CodesMapToStatus) {
  EXPECT_THAT(CudaError(cudaErrorMemoryAllocation, "cudaMalloc(&p, n)", "f.cc", 7),
              StatusIs(absl::StatusCode::kResourceExhausted, "cudaMalloc(&p, n) failed (f.cc:7)"));
  EXPECT_THAT(CudaError(cudaErrorInvalidValue, "cudaMemcpy(a)", "f.cc", 8),
              StatusIs(absl::StatusCode::kInvalidArgument, "cudaErrorInvalidValue"));
  EXPECT_THAT(CudaError(cudaErrorNoDevice, "cudaGetDevice(&d)", "f.cc", 9),
              StatusIs(absl::StatusCode::kFailedPrecondition, "cudaGetDevice(&d) failed"));
  EXPECT_THAT(CudaError(cudaErrorLaunchFailure, "cudaStreamQuery(s)", "f.cc", 10),
              StatusIs(absl::StatusCode::kInternal, "cudaStreamQuery(s) failed"));
}

}  // namespace
}  // namespace dqt

#else
TEST(NcclCommunicatorGpu, OneRank) { GTEST_SKIP() << "built without NCCL"; }
#endif
