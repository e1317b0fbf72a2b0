// CPU twin of the linear layer on OpenBLAS GEMM (multithreaded by OpenBLAS itself).
#include "kernels/cpu/linear.h"

#include <cblas.h>

#include <vector>

#include "core/base/parallel.h"
#include "kernels/cpu/float_types.h"
#include "kernels/fp8.h"

namespace dqt::cpu {
namespace {

void Gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int m, int n, int k, const float* a, int lda,
          const float* b, int ldb, float beta, float* c, int ldc) {
  cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, 1.0f, a, lda, b, ldb, beta, c, ldc);
}
void Gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int m, int n, int k, const double* a, int lda,
          const double* b, int ldb, double beta, double* c, int ldc) {
  cblas_dgemm(CblasRowMajor, ta, tb, m, n, k, 1.0, a, lda, b, ldb, beta, c, ldc);
}

}  // namespace

template <typename T>
void LinearForward(const T* x, const T* w, int64_t n, int in, int out, T* y) {
  Gemm(CblasNoTrans, CblasTrans, static_cast<int>(n), out, in, x, in, w, in, T(0), y, out);
}

template <typename T>
void LinearBackward(const T* x, const T* w, const T* dy, int64_t n, int in, int out, T* dx, T* dw,
                    Accumulate dx_mode) {
  if (dx != nullptr) {
    const T beta = dx_mode == Accumulate::kYes ? T(1) : T(0);
    Gemm(CblasNoTrans, CblasNoTrans, static_cast<int>(n), in, out, dy, out, w, in, beta, dx, in);
  }
  Gemm(CblasTrans, CblasNoTrans, out, in, static_cast<int>(n), dy, out, x, in, T(1), dw, in);
}

template void LinearForward<float>(const float*, const float*, int64_t, int, int, float*);
template void LinearForward<double>(const double*, const double*, int64_t, int, int, double*);
template void LinearBackward<float>(const float*, const float*, const float*, int64_t, int, int,
                                    float*, float*, Accumulate);
template void LinearBackward<double>(const double*, const double*, const double*, int64_t, int, int,
                                     double*, double*, Accumulate);

}  // namespace dqt::cpu

namespace dqt {

void LinearForwardRef(const LinearForwardArgs& a) {
  cpu::WithFloatType(a.x.dtype, "LinearForward", [&](auto t) {
    using T = decltype(t);
    const int64_t n = a.x.dim(0);
    const int in = static_cast<int>(a.x.dim(1)), rows = static_cast<int>(a.w.dim(0));
    const int ldy = static_cast<int>(a.y.dim(1));
    // A tile of w's rows writes its block of y's columns (ldy: y's full row).
    auto product = [&](int64_t r0, int64_t count) {
      cpu::Gemm(CblasNoTrans, CblasTrans, static_cast<int>(count), rows, in, a.x.as<T>() + r0 * in,
                in, a.w.as<T>(), in, T(0), a.y.as<T>() + r0 * ldy + a.col0, ldy);
    };
    if (!a.row_by_row) {
      product(0, n);
      return;
    }
    // Inside the parallel region OpenBLAS runs each product on the calling thread alone.
    ParallelFor(
        n, [&](int64_t r) { product(r, 1); }, 1);
  });
}

void LinearBackwardRef(const LinearBackwardArgs& a) {
  cpu::WithFloatType(a.x.dtype, "LinearBackward", [&](auto t) {
    using T = decltype(t);
    const int n = static_cast<int>(a.x.dim(0)), in = static_cast<int>(a.x.dim(1));
    const int out = static_cast<int>(a.dy.dim(1));
    if (!a.dx.empty()) {
      // A tile of w's columns writes its block of dx's columns; the sum over `out` is whole.
      const int cols = static_cast<int>(a.w.dim(1));
      const T beta = a.dx_mode == Accumulate::kYes ? T(1) : T(0);
      cpu::Gemm(CblasNoTrans, CblasNoTrans, n, cols, out, a.dy.as<T>(), out, a.w.as<T>(), cols,
                beta, a.dx.as<T>() + a.col0, in);
    }
    if (!a.dw.empty()) {
      cpu::Gemm(CblasTrans, CblasNoTrans, out, in, n, a.dy.as<T>(), out, a.x.as<T>(), in, T(1),
                a.dw.as<T>(), in);
    }
  });
}

// Exact reference products: int8 codes accumulate in int32 (at most 2^14 per term, so any
// in < 2^17 is exact); e4m3 codes are exact in float and their products exact in double.
void QuantizedLinearForwardRef(const QuantizedLinearForwardArgs& a) {
  const int64_t n = a.xq.dim(0), in = a.xq.dim(1), out = a.wq.dim(0);
  const float* xs = a.x_scale.as<float>();
  const float* ws = a.w_scale.as<float>();
  const bool per_row = a.w_scale.numel() > 1;
  const bool int8 = a.xq.dtype == DType::kI8;
  std::vector<float> wf;
  if (!int8) {
    wf.resize(static_cast<size_t>(out * in));
    const Fp8E4M3* w = a.wq.as<Fp8E4M3>();
    for (int64_t i = 0; i < out * in; ++i) wf[i] = E4m3ToFloat(w[i]);
  }
  ParallelFor(
      n,
      [&](int64_t r) {
        for (int64_t c = 0; c < out; ++c) {
          double acc = 0;
          int32_t iacc = 0;
          if (int8) {
            const int8_t* x = a.xq.as<int8_t>() + r * in;
            const int8_t* w = a.wq.as<int8_t>() + c * in;
            for (int64_t k = 0; k < in; ++k) iacc += int32_t(x[k]) * int32_t(w[k]);
            acc = iacc;
          } else {
            const Fp8E4M3* x = a.xq.as<Fp8E4M3>() + r * in;
            for (int64_t k = 0; k < in; ++k) acc += double(E4m3ToFloat(x[k])) * wf[c * in + k];
          }
          const int64_t o = r * out + c;
          if (a.y.dtype == DType::kI32) {
            a.y.as<int32_t>()[o] = iacc;
          } else {
            a.y.as<float>()[o] =
                static_cast<float>(acc / (double(xs[r]) * double(ws[per_row ? c : 0])));
          }
        }
      },
      1);
}

}  // namespace dqt
