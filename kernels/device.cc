// CPU-only builds report no CUDA device; CUDA builds link kernels/cuda/device_info.cu.
#include "kernels/device.h"

#ifndef DQT_HAVE_CUDA
namespace dqt {
int CudaDeviceCount() { return 0; }
}  // namespace dqt
#endif
