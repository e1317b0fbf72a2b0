// Denormal handling of the CPU kernels: flush-to-zero (FTZ) and denormals-are-zero (DAZ).
// A diverged or nearly-dead run pushes values into the denormal range, where x86 arithmetic takes
// microcode assists and training runs 10-45x slower; flushing them to zero costs nothing else.
#pragma once

namespace dqt {

// Sets FTZ and DAZ in MXCSR on the calling thread and on every thread of the OpenMP team (which
// the OpenMP build of OpenBLAS shares); threads created afterwards inherit the calling thread's
// mode (pthread_create copies the floating-point environment). Idempotent. A no-op off x86.
void FlushDenormalsOnCpuThreads();

// Whether FTZ and DAZ are both set on the calling thread.
bool DenormalsFlushed();

}  // namespace dqt
