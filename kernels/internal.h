// Included first by every header under kernels/cpu/ and kernels/cuda/: those headers belong to the
// twins (and to the kernel tests) only, so a model, optimizer or trainer file that includes one
// fails to compile. dqt_kernels and the kernel tests define DQT_KERNELS_INTERNAL.
#pragma once

#ifndef DQT_KERNELS_INTERNAL
#error "kernels/cpu/ and kernels/cuda/ headers are internal to the kernels: include kernels/<op>.h"
#endif
