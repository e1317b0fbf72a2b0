// CUDA twin of the linear layer: each product is one cublasLtMatmul. Row-major views are read as
// cuBLASLt's column-major transposes (a row-major (r, c) matrix is a column-major (c, r) one with
// the same leading dimension), so y = x W^T becomes y^T = W x^T: the "TN" form the INT8 and FP8
// tensor-core kernels require. Matmul descriptors, layouts and the heuristic's algorithm are
// cached per shape and device; one cuBLASLt handle per device, one workspace per (device, stream).
#include <cublasLt.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <tuple>
#include <type_traits>
#include <utility>

#include "core/base/buffer.h"
#include "kernels/cuda/cublaslt_check.h"
#include "kernels/linear.h"
#include "kernels/moments.h"  // FloatToBf16

namespace dqt {
namespace {

// cuBLASLt workspace per (device, stream): NVIDIA's recommendation for Hopper (32 MiB).
constexpr size_t kWorkspaceBytes = size_t{32} << 20;
// Scratch of the quantized forward per (device, stream), allocated on first need: int32 / fp32
// accumulators of a bf16 output (the product runs in row chunks that fit) and of the last n % 16
// rows, whose codes are copied here padded to 16 rows with zeros.
constexpr size_t kQuantScratchBytes = size_t{64} << 20;
// cuBLASLt's INT8 and FP8 tensor-core kernels need in (k) and out (m) to be multiples of 16 and
// 16-byte aligned pointers; the row count (n) is kept a multiple of 16 too by the padded tail.
constexpr int64_t kQuantMultiple = 16;

// One column-major product D = alpha op(A) op(B) + beta C (C = D, in place): D (m, n),
// op(A) (m, k), op(B) (k, n). The alignments (bytes, a power of two up to 256) of the pointers are
// part of the shape because the heuristic's algorithm may rely on them.
struct GemmShape {
  cudaDataType_t a_type, b_type, c_type, scale_type;
  cublasComputeType_t compute;
  cublasOperation_t trans_a, trans_b;
  int64_t m, n, k, lda, ldb, ldc;
  uint32_t align_a, align_b, align_c;

  auto Tie() const {
    return std::tie(a_type, b_type, c_type, scale_type, compute, trans_a, trans_b, m, n, k, lda,
                    ldb, ldc, align_a, align_b, align_c);
  }
  bool operator<(const GemmShape& o) const { return Tie() < o.Tie(); }
};

uint32_t Alignment(const void* p) {
  const auto address = reinterpret_cast<uintptr_t>(p);
  uint32_t align = 256;
  while (align > 1 && address % align != 0) align /= 2;
  return align;
}

class LtHandle {
 public:
  LtHandle() { DQT_CUBLAS_CHECK(cublasLtCreate(&handle_)); }
  ~LtHandle() { cublasLtDestroy(handle_); }
  LtHandle(const LtHandle&) = delete;
  LtHandle& operator=(const LtHandle&) = delete;
  cublasLtHandle_t get() const { return handle_; }

 private:
  cublasLtHandle_t handle_ = nullptr;
};

// Descriptors and the algorithm of one GemmShape; read-only once built, so shared by threads.
class MatmulPlan {
 public:
  MatmulPlan(cublasLtHandle_t handle, const GemmShape& g) {
    DQT_CUBLAS_CHECK(cublasLtMatmulDescCreate(&desc_, g.compute, g.scale_type));
    DQT_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(desc_, CUBLASLT_MATMUL_DESC_TRANSA, &g.trans_a,
                                                    sizeof(g.trans_a)));
    DQT_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(desc_, CUBLASLT_MATMUL_DESC_TRANSB, &g.trans_b,
                                                    sizeof(g.trans_b)));
    const bool ta = g.trans_a != CUBLAS_OP_N, tb = g.trans_b != CUBLAS_OP_N;
    DQT_CUBLAS_CHECK(
        cublasLtMatrixLayoutCreate(&a_, g.a_type, ta ? g.k : g.m, ta ? g.m : g.k, g.lda));
    DQT_CUBLAS_CHECK(
        cublasLtMatrixLayoutCreate(&b_, g.b_type, tb ? g.n : g.k, tb ? g.k : g.n, g.ldb));
    DQT_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&c_, g.c_type, g.m, g.n, g.ldc));

    // The preference only serves the heuristic; the chosen algorithm is what is kept.
    cublasLtMatmulPreference_t pref = nullptr;
    DQT_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref));
    std::unique_ptr<cublasLtMatmulPreferenceOpaque_t,
                    cublasStatus_t (*)(cublasLtMatmulPreference_t)>
        pref_owner(pref, cublasLtMatmulPreferenceDestroy);
    const uint64_t workspace = kWorkspaceBytes;
    DQT_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(
        pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &workspace, sizeof(workspace)));
    const std::pair<cublasLtMatmulPreferenceAttributes_t, uint32_t> aligns[] = {
        {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, g.align_a},
        {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, g.align_b},
        {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, g.align_c},
        {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, g.align_c}};
    for (const auto& [attribute, bytes] : aligns) {
      DQT_CUBLAS_CHECK(
          cublasLtMatmulPreferenceSetAttribute(pref, attribute, &bytes, sizeof(bytes)));
    }
    cublasLtMatmulHeuristicResult_t result = {};
    int found = 0;
    DQT_CUBLAS_CHECK(
        cublasLtMatmulAlgoGetHeuristic(handle, desc_, a_, b_, c_, c_, pref, 1, &result, &found));
    DQT_CHECK(found > 0) << "cuBLASLt has no algorithm for D (" << g.m << ", " << g.n
                         << ") = op(A) op(B), k " << g.k << ", types " << g.a_type << "/"
                         << g.b_type << "->" << g.c_type << ", compute " << g.compute;
    algo_ = result.algo;
  }
  ~MatmulPlan() {
    if (c_ != nullptr) cublasLtMatrixLayoutDestroy(c_);
    if (b_ != nullptr) cublasLtMatrixLayoutDestroy(b_);
    if (a_ != nullptr) cublasLtMatrixLayoutDestroy(a_);
    if (desc_ != nullptr) cublasLtMatmulDescDestroy(desc_);
  }
  MatmulPlan(const MatmulPlan&) = delete;
  MatmulPlan& operator=(const MatmulPlan&) = delete;

  void Run(cublasLtHandle_t handle, const void* alpha, const void* a, const void* b,
           const void* beta, void* c, void* workspace, CUstream_st* stream) const {
    DQT_CUBLAS_CHECK(cublasLtMatmul(handle, desc_, alpha, a, a_, b, b_, beta, c, c_, c, c_, &algo_,
                                    workspace, kWorkspaceBytes, stream));
  }

 private:
  cublasLtMatmulDesc_t desc_ = nullptr;
  cublasLtMatrixLayout_t a_ = nullptr, b_ = nullptr, c_ = nullptr;
  cublasLtMatmulAlgo_t algo_ = {};
};

// Scratch owned per (device, stream), so concurrent streams never share it.
struct StreamScratch {
  Buffer<uint8_t> workspace;  // kWorkspaceBytes, for cuBLASLt
  Buffer<uint8_t> quant;  // kQuantScratchBytes, allocated on the first quantized forward needing it
};

struct DeviceState {
  LtHandle handle;
  int compute_capability = 0;  // major * 10 + minor
  std::map<CUstream_st*, std::unique_ptr<StreamScratch>> streams;
  std::map<GemmShape, std::unique_ptr<MatmulPlan>> plans;
};

struct MatmulResources {
  cublasLtHandle_t handle;
  const MatmulPlan* plan;
  void* workspace;
};

// Process-wide cache of handles, scratch and plans, keyed by the current device. Entries are
// created on first use and never evicted (a model has a handful of shapes), so the pointers handed
// out stay valid without the lock. The registry itself is never destroyed: releasing cuBLASLt
// handles and device memory from static destructors races the CUDA runtime's own teardown.
class Registry {
 public:
  static Registry& Instance() {
    static Registry* registry = new Registry;
    return *registry;
  }

  int ComputeCapability() {
    std::lock_guard<std::mutex> lock(mu_);
    return Current().compute_capability;
  }

  MatmulResources Matmul(const GemmShape& g, CUstream_st* stream) {
    std::lock_guard<std::mutex> lock(mu_);
    DeviceState& d = Current();
    std::unique_ptr<MatmulPlan>& plan = d.plans[g];
    if (plan == nullptr) plan = std::make_unique<MatmulPlan>(d.handle.get(), g);
    return {d.handle.get(), plan.get(), Scratch(d, stream).workspace.data()};
  }

  uint8_t* QuantScratch(CUstream_st* stream) {
    std::lock_guard<std::mutex> lock(mu_);
    StreamScratch& s = Scratch(Current(), stream);
    if (s.quant.size() == 0) {
      s.quant = Buffer<uint8_t>(kQuantScratchBytes, MemoryKind::kWorkspace, Device::kCuda);
    }
    return s.quant.data();
  }

 private:
  DeviceState& Current() {
    int ordinal = 0;
    DQT_CUDA_CHECK_FATAL(cudaGetDevice(&ordinal));
    std::unique_ptr<DeviceState>& d = devices_[ordinal];
    if (d == nullptr) {
      d = std::make_unique<DeviceState>();
      int major = 0, minor = 0;
      DQT_CUDA_CHECK_FATAL(
          cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, ordinal));
      DQT_CUDA_CHECK_FATAL(
          cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, ordinal));
      d->compute_capability = major * 10 + minor;
    }
    return *d;
  }
  static StreamScratch& Scratch(DeviceState& d, CUstream_st* stream) {
    std::unique_ptr<StreamScratch>& s = d.streams[stream];
    if (s == nullptr) {
      s = std::make_unique<StreamScratch>();
      s->workspace = Buffer<uint8_t>(kWorkspaceBytes, MemoryKind::kWorkspace, Device::kCuda);
    }
    return *s;
  }

  std::mutex mu_;
  std::map<int, std::unique_ptr<DeviceState>> devices_;
};

// D = alpha op(A) op(B) + beta C on `stream`; alpha and beta are host values of g.scale_type.
void Matmul(GemmShape g, const void* a, const void* b, void* c, const void* alpha, const void* beta,
            CUstream_st* stream) {
  g.align_a = Alignment(a);
  g.align_b = Alignment(b);
  g.align_c = Alignment(c);
  const MatmulResources r = Registry::Instance().Matmul(g, stream);
  r.plan->Run(r.handle, alpha, a, b, beta, c, r.workspace, stream);
}

cudaDataType_t FloatType(const char* op, const char* name, const TensorRef& t) {
  CheckDType(op, name, t, {DType::kF32, DType::kBF16});
  return t.dtype == DType::kF32 ? CUDA_R_32F : CUDA_R_16BF;
}

// fp32 compute (no TF32: the f32 path is the precise reference on the GPU) and fp32 scalars.
GemmShape FloatGemm(cudaDataType_t a, cudaDataType_t b, cudaDataType_t c) {
  GemmShape g = {};
  g.a_type = a;
  g.b_type = b;
  g.c_type = c;
  g.scale_type = CUDA_R_32F;
  g.compute = CUBLAS_COMPUTE_32F;
  return g;
}

void ZeroFill(const TensorRef& t, CUstream_st* stream) {
  DQT_CUDA_CHECK_FATAL(cudaMemsetAsync(t.data, 0, t.bytes(), stream));
}

__device__ inline void StoreOutput(float* y, int64_t i, float v) { y[i] = v; }
__device__ inline void StoreOutput(uint16_t* y, int64_t i, float v) { y[i] = FloatToBf16(v); }

// y[r][c] = acc[r][c] / (x_scale[r] * w_scale[c * w_stride]) computed in double, as the CPU twin
// does: the accumulator and the scale product are exact in double, so the f32 result is the
// correctly rounded quotient on both twins. Out int32_t: the raw accumulators. acc and y may
// alias (4-byte Acc and Out): each element is read, then written, by one thread.
template <typename Acc, typename Out>
__global__ void ScaleAccumulatorsKernel(const Acc* acc, int64_t rows, int64_t cols,
                                        const float* x_scale, const float* w_scale,
                                        int64_t w_stride, Out* y) {
  const int64_t total = rows * cols;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < total;
       i += int64_t{gridDim.x} * blockDim.x) {
    if constexpr (std::is_same<Out, int32_t>::value) {
      y[i] = acc[i];
    } else {
      const int64_t r = i / cols, c = i - r * cols;
      const double scale = __dmul_rn(double(x_scale[r]), double(w_scale[c * w_stride]));
      StoreOutput(y, i, __double2float_rn(__ddiv_rn(double(acc[i]), scale)));
    }
  }
}

// The quantized forward's operands and its output, for products over row ranges.
struct QuantProduct {
  GemmShape g;  // all but n
  const void* alpha;
  const void* beta;
  const uint8_t* xq;  // (n, in) codes
  const void* wq;     // (out, in) codes
  int64_t in, out;
  const float* x_scale;
  const float* w_scale;
  int64_t w_stride;  // 1: w_scale per output row, 0: one scale
  TensorRef y;
  bool int8;
  CUstream_st* stream;

  // acc (rows, out) = codes (rows, in) Wq^T; rows a multiple of 16, codes 16-byte aligned.
  void Gemm(const uint8_t* codes, int64_t rows, void* acc) {
    g.n = rows;
    Matmul(g, wq, codes, acc, alpha, beta, stream);
  }
  // y rows [row0, row0 + rows) from accumulators (rows, out).
  void Epilogue(const void* acc, int64_t row0, int64_t rows) {
    if (int8) {
      EpilogueOf(static_cast<const int32_t*>(acc), row0, rows);
    } else {
      EpilogueOf(static_cast<const float*>(acc), row0, rows);
    }
  }
  template <typename Acc>
  void EpilogueOf(const Acc* acc, int64_t row0, int64_t rows) {
    const int64_t at = row0 * out;
    switch (y.dtype) {
      case DType::kI32:
        return Launch(acc, row0, rows, static_cast<int32_t*>(y.data) + at);
      case DType::kF32:
        return Launch(acc, row0, rows, static_cast<float*>(y.data) + at);
      default:
        return Launch(acc, row0, rows, static_cast<uint16_t*>(y.data) + at);
    }
  }
  template <typename Acc, typename Out>
  void Launch(const Acc* acc, int64_t row0, int64_t rows, Out* y_rows) {
    constexpr int kThreads = 256;
    const int64_t blocks = std::min<int64_t>((rows * out + kThreads - 1) / kThreads, 65536);
    ScaleAccumulatorsKernel<<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(
        acc, rows, out, x_scale + row0, w_scale, w_stride, y_rows);
    DQT_CUDA_CHECK_FATAL(cudaGetLastError());
  }
};

}  // namespace

void LinearForwardCuda(const LinearForwardArgs& a, CUstream_st* stream) {
  const int64_t n = a.x.dim(0), in = a.x.dim(1), out = a.w.dim(0), ldy = a.y.dim(1);
  const cudaDataType_t t = FloatType("LinearForward", "x", a.x);
  if (n == 0 || out == 0) return;
  DQT_CHECK(in > 0 || (a.col0 == 0 && out == ldy)) << "LinearForward: a tile with in = 0";
  if (in == 0) return ZeroFill(a.y, stream);
  // y^T (out, n) = W (out, in) x^T (in, n): A = w stored (in, out), transposed; B = x as stored.
  // A tile of w's rows writes rows [col0, col0 + out) of y^T (ldc: y's full row).
  GemmShape g = FloatGemm(t, t, t);
  g.trans_a = CUBLAS_OP_T;
  g.trans_b = CUBLAS_OP_N;
  g.m = out, g.n = n, g.k = in;
  g.lda = in, g.ldb = in, g.ldc = ldy;
  const float one = 1.0f, zero = 0.0f;
  Matmul(g, a.w.data, a.x.data, static_cast<char*>(a.y.data) + a.col0 * DTypeSize(a.y.dtype), &one,
         &zero, stream);
}

void LinearBackwardCuda(const LinearBackwardArgs& a, CUstream_st* stream) {
  const int64_t n = a.x.dim(0), in = a.x.dim(1), out = a.dy.dim(1);
  const cudaDataType_t t = FloatType("LinearBackward", "x", a.x);
  DQT_CHECK((a.w.empty() || a.w.dtype == a.x.dtype) && a.dy.dtype == a.x.dtype)
      << "LinearBackward: x " << DTypeName(a.x.dtype) << ", w " << DTypeName(a.w.dtype) << ", dy "
      << DTypeName(a.dy.dtype);
  const float one = 1.0f, zero = 0.0f;
  if (!a.dx.empty() && n > 0 && in > 0) {
    DQT_CHECK(a.dx.dtype == a.x.dtype) << "LinearBackward: dx is " << DTypeName(a.dx.dtype);
    const int64_t cols = a.w.dim(1);
    DQT_CHECK(out > 0 || (a.col0 == 0 && cols == in)) << "LinearBackward: a tile with out = 0";
    if (out == 0) {
      if (a.dx_mode == Accumulate::kNo) ZeroFill(a.dx, stream);
    } else if (cols > 0) {
      // dx^T (in, n) = W^T (in, out) dy^T (out, n): both operands as stored. A tile of w's
      // columns writes rows [col0, col0 + cols) of dx^T (ldc: dx's full row); k = out is whole.
      GemmShape g = FloatGemm(t, t, t);
      g.trans_a = CUBLAS_OP_N;
      g.trans_b = CUBLAS_OP_N;
      g.m = cols, g.n = n, g.k = out;
      g.lda = cols, g.ldb = out, g.ldc = in;
      Matmul(g, a.w.data, a.dy.data, static_cast<char*>(a.dx.data) + a.col0 * DTypeSize(a.dx.dtype),
             &one, a.dx_mode == Accumulate::kYes ? &one : &zero, stream);
    }
  }
  if (!a.dw.empty() && n > 0 && in > 0 && out > 0) {
    CheckDType("LinearBackward", "dw", a.dw, {DType::kF32});
    // dw^T (in, out) += x^T (in, n) dy (n, out): A = x as stored, B = dy stored (out, n),
    // transposed; fp32 accumulation into the fp32 gradient whatever the activations' dtype.
    GemmShape g = FloatGemm(t, t, CUDA_R_32F);
    g.trans_a = CUBLAS_OP_N;
    g.trans_b = CUBLAS_OP_T;
    g.m = in, g.n = out, g.k = n;
    g.lda = in, g.ldb = out, g.ldc = in;
    Matmul(g, a.x.data, a.dy.data, a.dw.data, &one, &one, stream);
  }
}

// Requirements (checked): in and out multiples of 16 and xq, wq, y 16-byte aligned (cuBLASLt's
// INT8 / FP8 kernels); FP8 also needs compute capability 8.9 or newer. n is free: the last n % 16
// rows go through a zero-padded 16-row copy of their codes, so cuBLASLt only sees n % 16 == 0.
void QuantizedLinearForwardCuda(const QuantizedLinearForwardArgs& a, CUstream_st* stream) {
  const int64_t n = a.xq.dim(0), in = a.xq.dim(1), out = a.wq.dim(0);
  const bool int8 = a.xq.dtype == DType::kI8;
  const char* kind = int8 ? "INT8" : "FP8";
  if (int8) {
    CheckDType("QuantizedLinearForward", "y", a.y, {DType::kI32, DType::kF32, DType::kBF16});
  } else {
    CheckDType("QuantizedLinearForward", "y", a.y, {DType::kF32, DType::kBF16});
  }
  DQT_CHECK(in % kQuantMultiple == 0 && out % kQuantMultiple == 0)
      << "QuantizedLinearForward: the " << kind << " GEMM on CUDA needs in and out to be "
      << "multiples of " << kQuantMultiple << " (cuBLASLt's tensor-core layouts); got in " << in
      << ", out " << out;
  DQT_CHECK(Alignment(a.xq.data) >= 16 && Alignment(a.wq.data) >= 16 && Alignment(a.y.data) >= 16)
      << "QuantizedLinearForward: the " << kind << " GEMM on CUDA needs xq, wq and y 16-byte "
      << "aligned";
  if (!int8) {
    const int cc = Registry::Instance().ComputeCapability();
    DQT_CHECK(cc >= 89) << "QuantizedLinearForward: the FP8 forward needs compute capability 8.9 "
                           "or newer (Hopper); this device has "
                        << cc / 10 << "." << cc % 10;
  }
  if (n == 0 || out == 0) return;
  if (in == 0) return ZeroFill(a.y, stream);

  // acc^T (out, rows) = Wq (out, in) xq^T (in, rows): the "TN" form, A = wq transposed.
  QuantProduct p = {};
  p.g.a_type = p.g.b_type = int8 ? CUDA_R_8I : CUDA_R_8F_E4M3;
  p.g.c_type = int8 ? CUDA_R_32I : CUDA_R_32F;
  p.g.scale_type = int8 ? CUDA_R_32I : CUDA_R_32F;
  p.g.compute = int8 ? CUBLAS_COMPUTE_32I : CUBLAS_COMPUTE_32F;
  p.g.trans_a = CUBLAS_OP_T;
  p.g.trans_b = CUBLAS_OP_N;
  p.g.m = out, p.g.k = in;
  p.g.lda = in, p.g.ldb = in, p.g.ldc = out;
  static const int32_t kIntOne = 1, kIntZero = 0;
  static const float kOne = 1.0f, kZero = 0.0f;
  p.alpha = int8 ? static_cast<const void*>(&kIntOne) : &kOne;
  p.beta = int8 ? static_cast<const void*>(&kIntZero) : &kZero;
  p.xq = static_cast<const uint8_t*>(a.xq.data);
  p.wq = a.wq.data;
  p.in = in, p.out = out;
  p.x_scale = a.x_scale.as<float>();
  p.w_scale = a.w_scale.as<float>();
  p.w_stride = a.w_scale.numel() > 1 ? 1 : 0;
  p.y = a.y;
  p.int8 = int8;
  p.stream = stream;

  const int64_t body = n / kQuantMultiple * kQuantMultiple, tail = n - body;
  uint8_t* scratch = nullptr;
  int64_t chunk = 0;  // rows of accumulators the scratch holds, a multiple of 16
  const int64_t pad_bytes = (kQuantMultiple * in + 255) / 256 * 256;
  if (tail > 0 || a.y.dtype == DType::kBF16) {
    scratch = Registry::Instance().QuantScratch(stream);
    const int64_t acc_bytes = static_cast<int64_t>(kQuantScratchBytes) - pad_bytes;
    chunk = acc_bytes / (out * 4) / kQuantMultiple * kQuantMultiple;
    DQT_CHECK(chunk >= kQuantMultiple)
        << "QuantizedLinearForward: in " << in << ", out " << out << " too wide for the "
        << kQuantScratchBytes << "-byte scratch";
  }
  uint8_t* pad = scratch != nullptr ? scratch + (kQuantScratchBytes - pad_bytes) : nullptr;

  if (a.y.dtype != DType::kBF16) {
    // i32 / f32: 4-byte accumulators straight into y, scaled in place for f32.
    if (body > 0) {
      p.Gemm(p.xq, body, a.y.data);
      if (a.y.dtype == DType::kF32) p.Epilogue(a.y.data, 0, body);
    }
  } else {
    // bf16: y has half the bytes of the accumulators; through the scratch in row chunks.
    for (int64_t row0 = 0; row0 < body; row0 += chunk) {
      const int64_t rows = std::min(chunk, body - row0);
      p.Gemm(p.xq + row0 * in, rows, scratch);
      p.Epilogue(scratch, row0, rows);
    }
  }
  if (tail > 0) {
    DQT_CUDA_CHECK_FATAL(
        cudaMemcpyAsync(pad, p.xq + body * in, tail * in, cudaMemcpyDeviceToDevice, stream));
    DQT_CUDA_CHECK_FATAL(cudaMemsetAsync(pad + tail * in, 0, (kQuantMultiple - tail) * in, stream));
    p.Gemm(pad, kQuantMultiple, scratch);
    p.Epilogue(scratch, body, tail);
  }
}

}  // namespace dqt
