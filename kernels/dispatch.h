// What every op dispatcher shares: the check that each view is on the context's device, and the
// choice between the CPU twin and the CUDA twin (a fatal error for CUDA in a CPU-only build).
#pragma once

#include <initializer_list>

#include "core/base/check.h"
#include "core/base/device.h"
#include "core/base/tensor_ref.h"

namespace dqt {

struct NamedRef {
  const char* name;
  const TensorRef& ref;
};

// Fatal when a non-empty view is not on ctx's device (a model wiring error, not a user error).
inline void CheckOnDevice(const ExecContext& ctx, const char* op,
                          std::initializer_list<NamedRef> refs) {
  for (const NamedRef& r : refs) {
    DQT_CHECK(r.ref.empty() || r.ref.device == ctx.device())
        << op << ": argument " << r.name << " is on " << DeviceName(r.ref.device)
        << " but the context runs on " << DeviceName(ctx.device());
  }
}

// Fatal when `ref` is not of one of the `allowed` dtypes.
inline void CheckDType(const char* op, const char* name, const TensorRef& ref,
                       std::initializer_list<DType> allowed) {
  bool ok = false;
  for (DType t : allowed) ok |= ref.dtype == t;
  DQT_CHECK(ok) << op << ": argument " << name << " has dtype " << DTypeName(ref.dtype);
}

}  // namespace dqt

// DQT_DISPATCH(ctx, cpu_call, cuda_call): runs the twin of ctx's device.
#ifdef DQT_HAVE_CUDA
#define DQT_DISPATCH(ctx, cpu_call, cuda_call) \
  do {                                         \
    if ((ctx).is_cuda()) {                     \
      cuda_call;                               \
    } else {                                   \
      cpu_call;                                \
    }                                          \
  } while (0)
#else
#define DQT_DISPATCH(ctx, cpu_call, cuda_call)                                       \
  do {                                                                               \
    DQT_CHECK(!(ctx).is_cuda()) << "a CUDA context in a build without CUDA support"; \
    cpu_call;                                                                        \
  } while (0)
#endif
