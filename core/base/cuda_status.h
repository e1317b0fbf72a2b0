// DQT_CUDA_CHECK: CUDA runtime return codes as absl::Status. Header-only, for CUDA builds only
// (the including target links the CUDA runtime); core/base itself never includes it.
#pragma once

#include <cuda_runtime.h>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"

namespace dqt {

// The CUDA error `code` of `call` (its source text and position) as a Status: an invalid
// value or pointer is InvalidArgument, a missing device FailedPrecondition, out of memory
// ResourceExhausted, the rest Internal.
inline absl::Status CudaError(cudaError_t code, const char* call, const char* file, int line) {
  const std::string message = absl::StrFormat("%s failed (%s:%d): %s (%s)", call, file, line,
                                              cudaGetErrorString(code), cudaGetErrorName(code));
  switch (code) {
    case cudaErrorInvalidValue:
    case cudaErrorInvalidDevicePointer:
    case cudaErrorInvalidDevice:
      return absl::InvalidArgumentError(message);
    case cudaErrorNoDevice:
    case cudaErrorInsufficientDriver:
      return absl::FailedPreconditionError(message);
    case cudaErrorMemoryAllocation:
      return absl::ResourceExhaustedError(message);
    default:
      return absl::InternalError(message);
  }
}

}  // namespace dqt

// Returns the error of `call` (a CUDA runtime function) from the enclosing Status-returning
// function.
#define DQT_CUDA_CHECK(call)                                              \
  do {                                                                    \
    const cudaError_t dqt_cuda_code_ = (call);                            \
    if (dqt_cuda_code_ != cudaSuccess) {                                  \
      return ::dqt::CudaError(dqt_cuda_code_, #call, __FILE__, __LINE__); \
    }                                                                     \
  } while (0)
