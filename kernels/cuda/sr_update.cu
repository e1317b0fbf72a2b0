// CUDA twin of the DQT update: one thread per element, one thread block per kMomentBlock
// elements (the block8 quantization block), arithmetic shared with the CPU twin via sr_update.h.
#include <cuda_runtime.h>

#include <climits>

#include "kernels/cuda/launch.h"
#include "kernels/sr_update.h"

namespace dqt {
namespace {

static_assert(sizeof(int64_t) == sizeof(unsigned long long), "atomicAdd on the stats fields");

__device__ void AddCount(int64_t* field, int count) {
  if (count != 0) atomicAdd(reinterpret_cast<unsigned long long*>(field), count);
}

template <MomentFormat kFormat>
__global__ void __launch_bounds__(kMomentBlock)
    DqtUpdateKernel(DqtUpdateArgs a, DqtUpdateConstants k, DqtUpdateStats* stats) {
  const int64_t block = blockIdx.x;
  const int64_t i = block * kMomentBlock + threadIdx.x;
  const bool active = i < a.n;
  const MomentsView& mv = a.moments;

  float m = 0.0f, v = 0.0f;
  if (active) {
    if constexpr (kFormat == MomentFormat::kFp32) {
      m = static_cast<const float*>(mv.m)[i];
      v = static_cast<const float*>(mv.v)[i];
    } else if constexpr (kFormat == MomentFormat::kBf16) {
      m = Bf16ToFloat(static_cast<const uint16_t*>(mv.m)[i]);
      v = Bf16ToFloat(static_cast<const uint16_t*>(mv.v)[i]);
    } else {
      m = DequantizeFirstMoment(static_cast<const int8_t*>(mv.m)[i], mv.m_absmax[block]);
      v = DequantizeSecondMoment(static_cast<const uint8_t*>(mv.v)[i], mv.v_max[block]);
    }
  }

  int8_t old = 0, code = 0;
  bool skipped = false;
  if (active) {
    old = a.codes[i];
    code = old;
    const float g = a.grad[i];
    if (IsFiniteFloat(g)) {
      const float y = DqtTarget(old, g, &m, &v, k);
      code = StochasticRound(y, SrUniform(k.key, k.step, a.global_offset + i), a.grid);
      a.codes[i] = code;
    } else {
      skipped = true;
    }
  }

  if constexpr (kFormat == MomentFormat::kFp32) {
    if (active) {
      static_cast<float*>(mv.m)[i] = m;
      static_cast<float*>(mv.v)[i] = v;
    }
  } else if constexpr (kFormat == MomentFormat::kBf16) {
    if (active) {
      static_cast<uint16_t*>(mv.m)[i] = FloatToBf16(m);
      static_cast<uint16_t*>(mv.v)[i] = FloatToBf16(v);
    }
  } else {
    const float absmax = cuda::BlockReduce(active ? fabsf(m) : 0.0f, cuda::MaxOp{});
    const float vmax = cuda::BlockReduce(active ? v : 0.0f, cuda::MaxOp{});
    if (active) {
      static_cast<int8_t*>(mv.m)[i] = QuantizeFirstMoment(m, absmax);
      static_cast<uint8_t*>(mv.v)[i] = QuantizeSecondMoment(v, vmax);
    }
    if (threadIdx.x == 0) {
      mv.m_absmax[block] = absmax;
      mv.v_max[block] = vmax;
    }
  }

  const int qmin = a.grid.qmin(), qmax = a.grid.qmax();
  const int changed = __syncthreads_count(active && code != old);
  const int zeros = __syncthreads_count(active && code == 0);
  const int at_qmin = __syncthreads_count(active && code == qmin);
  const int at_qmax = __syncthreads_count(active && code == qmax);
  const int nonfinite = __syncthreads_count(skipped);
  if (threadIdx.x == 0) {
    AddCount(&stats->changed, changed);
    AddCount(&stats->zeros, zeros);
    AddCount(&stats->at_qmin, at_qmin);
    AddCount(&stats->at_qmax, at_qmax);
    AddCount(&stats->nonfinite, nonfinite);
  }
}

}  // namespace

absl::Status DqtUpdateCuda(const DqtUpdateArgs& args, DqtUpdateStats* device_stats,
                           cudaStream_t stream) {
  DQT_RETURN_IF_ERROR(ValidateDqtUpdateArgs(args));
  if (device_stats == nullptr) return absl::InvalidArgumentError("DqtUpdateCuda: null stats");
  if (args.n == 0) return absl::OkStatus();
  const int64_t blocks = args.moments.blocks();
  if (blocks > INT_MAX) {
    return absl::InvalidArgumentError(absl::StrCat("DqtUpdateCuda: slice too large, n = ", args.n));
  }
  const DqtUpdateConstants k = MakeDqtUpdateConstants(args);
  const dim3 grid(static_cast<unsigned>(blocks));
  switch (args.moments.format) {
    case MomentFormat::kFp32:
      DqtUpdateKernel<MomentFormat::kFp32>
          <<<grid, kMomentBlock, 0, stream>>>(args, k, device_stats);
      break;
    case MomentFormat::kBf16:
      DqtUpdateKernel<MomentFormat::kBf16>
          <<<grid, kMomentBlock, 0, stream>>>(args, k, device_stats);
      break;
    case MomentFormat::kBlock8:
      DqtUpdateKernel<MomentFormat::kBlock8>
          <<<grid, kMomentBlock, 0, stream>>>(args, k, device_stats);
      break;
  }
  const cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess) {
    return absl::InternalError(absl::StrCat("DqtUpdateCuda launch: ", cudaGetErrorString(err)));
  }
  return absl::OkStatus();
}

}  // namespace dqt
