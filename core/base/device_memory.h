// Raw memory of each device and explicit copies between devices: the only place core/base talks
// to the CUDA runtime. In a CPU-only build every CUDA request is a fatal error with a message
// (a CUDA context cannot be made there: see ExecContext creation in kernels/device.h).
#pragma once

#include <cstddef>

#include "core/base/device.h"

namespace dqt {

// Whether this build has the CUDA runtime.
bool BuiltWithCuda();

// `bytes` (> 0) on `device`: host memory is 64-byte aligned, CUDA memory comes from cudaMalloc
// on the current device. Out of memory is fatal, naming the size and the device.
void* AllocateOn(Device device, size_t bytes);
void FreeOn(Device device, void* p);
// Sets `bytes` of `p` on `device` to zero (CUDA: enqueued on `stream`).
void ZeroOn(Device device, void* p, size_t bytes, CUstream_st* stream = nullptr);
// Copies `bytes` from src (on src_device) to dst (on dst_device); any pair of devices. Copies that
// touch the GPU are ordered on `stream` and the host waits for them (a copy to or from pageable
// host memory cannot be left in flight safely).
void CopyBytes(void* dst, Device dst_device, const void* src, Device src_device, size_t bytes,
               CUstream_st* stream = nullptr);
// Waits for the work of `ctx` (its CUDA stream); a no-op on the CPU, where ops are synchronous.
void Synchronize(const ExecContext& ctx);

}  // namespace dqt
