// Device discovery and per-local-rank device selection (round robin over the visible GPUs).
#include "kernels/device.h"

#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

#if defined(DQT_HAVE_CUDA)
#include <cuda_runtime.h>
#endif

namespace dqt {
namespace {

using testing::IsOk;
using testing::StatusIs;

TEST(SelectCudaDevice, NegativeLocalRankIsInvalid) {
  EXPECT_THAT(SelectCudaDeviceForLocalRank(-1),
              StatusIs(absl::StatusCode::kInvalidArgument, "local rank -1"));
}

TEST(SelectCudaDevice, WithoutDeviceIsFailedPrecondition) {
  if (CudaDeviceCount() > 0) GTEST_SKIP() << "a CUDA device is present";
  EXPECT_THAT(SelectCudaDeviceForLocalRank(0),
              StatusIs(absl::StatusCode::kFailedPrecondition, "no CUDA device"));
}

#if defined(DQT_HAVE_CUDA)
TEST(SelectCudaDeviceGpu, RoundRobinOverVisibleDevices) {
  const int count = CudaDeviceCount();
  if (count == 0) GTEST_SKIP() << "no CUDA device";
  for (int local_rank : {0, 1, count, 2 * count + 1, 7}) {
    absl::StatusOr<int> device = SelectCudaDeviceForLocalRank(local_rank);
    ASSERT_THAT(device, IsOk());
    EXPECT_EQ(*device, local_rank % count) << "local rank " << local_rank;
    int current = -1;
    ASSERT_EQ(cudaGetDevice(&current), cudaSuccess);
    EXPECT_EQ(current, *device);
  }
}
#endif

}  // namespace
}  // namespace dqt
