// Fatal checks for CUDA runtime and cuBLASLt return codes inside the CUDA twins of ops: a failing
// launch or matmul there is a broken invariant (shapes and dtypes were validated by the
// dispatcher), so it aborts naming the call, the status name and its description.
#pragma once

#include <cublasLt.h>
#include <cuda_runtime.h>

#include "core/base/check.h"
#include "kernels/internal.h"  // IWYU pragma: keep

// Aborts when `call` (a cuBLASLt function) does not return CUBLAS_STATUS_SUCCESS.
#define DQT_CUBLAS_CHECK(call)                                                \
  do {                                                                        \
    const cublasStatus_t dqt_cublas_status_ = (call);                         \
    DQT_CHECK(dqt_cublas_status_ == CUBLAS_STATUS_SUCCESS)                    \
        << #call << ": " << cublasLtGetStatusName(dqt_cublas_status_) << " (" \
        << cublasLtGetStatusString(dqt_cublas_status_) << ")";                \
  } while (0)

// Aborts when `call` (a CUDA runtime function, or cudaGetLastError() after a launch) fails.
#define DQT_CUDA_CHECK_FATAL(call)                                    \
  do {                                                                \
    const cudaError_t dqt_cuda_error_ = (call);                       \
    DQT_CHECK(dqt_cuda_error_ == cudaSuccess)                         \
        << #call << ": " << cudaGetErrorName(dqt_cuda_error_) << " (" \
        << cudaGetErrorString(dqt_cuda_error_) << ")";                \
  } while (0)
