// CUDA device discovery: the first CUDA twin; the op kernels follow with the GPU issues.
#include <cuda_runtime.h>

namespace dqt {

int CudaDeviceCount() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) return 0;
  return count;
}

}  // namespace dqt
