// FTZ/DAZ through MXCSR (SSE control and status register).
#include "core/base/float_mode.h"

#if defined(__SSE2__)
#include <immintrin.h>
#endif

namespace dqt {
namespace {

#if defined(__SSE2__)
constexpr unsigned kFtz = 1u << 15, kDaz = 1u << 6;  // MXCSR bits (Intel SDM vol. 1, 10.2.3)
void SetOnThisThread() { _mm_setcsr(_mm_getcsr() | kFtz | kDaz); }
#else
void SetOnThisThread() {}
#endif

}  // namespace

void FlushDenormalsOnCpuThreads() {
  SetOnThisThread();
#pragma omp parallel
  SetOnThisThread();
}

bool DenormalsFlushed() {
#if defined(__SSE2__)
  return (_mm_getcsr() & (kFtz | kDaz)) == (kFtz | kDaz);
#else
  return false;
#endif
}

}  // namespace dqt
