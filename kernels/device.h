// Which compute devices this build can use.
#pragma once

namespace dqt {

// Number of CUDA devices visible; 0 in a CPU-only build or on a machine without a GPU.
int CudaDeviceCount();

}  // namespace dqt
