// FTZ/DAZ for the CPU kernels: set on the calling thread, on every OpenMP worker and on threads
// created afterwards, and denormal inputs and results become zero.
#include "core/base/float_mode.h"

#include <omp.h>

#include <atomic>
#include <limits>
#include <thread>

#include "gtest/gtest.h"

namespace dqt {
namespace {

TEST(DenormalFlushAdversarial, SetOnCallerWorkersAndLaterThreads) {
#if !defined(__SSE2__)
  GTEST_SKIP() << "FTZ/DAZ are x86 MXCSR bits";
#endif
  FlushDenormalsOnCpuThreads();
  EXPECT_TRUE(DenormalsFlushed());
  std::atomic<int> flushed{0}, threads{0};
#pragma omp parallel
  {
    threads += 1;
    flushed += DenormalsFlushed() ? 1 : 0;
  }
  EXPECT_EQ(flushed.load(), threads.load());
  EXPECT_EQ(threads.load(), omp_get_max_threads());
  bool later = false;
  std::thread([&] { later = DenormalsFlushed(); }).join();
  EXPECT_TRUE(later);
  // A denormal input reads as zero (DAZ) and a product below the normal range is zero (FTZ).
  volatile float tiny = std::numeric_limits<float>::denorm_min();
  volatile float small = std::numeric_limits<float>::min();
  EXPECT_EQ(tiny * 1.0f, 0.0f);
  EXPECT_EQ(small * 0.5f, 0.0f);
}

}  // namespace
}  // namespace dqt
