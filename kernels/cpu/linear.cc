// CPU twin of the linear layer on OpenBLAS GEMM (multithreaded by OpenBLAS itself).
#include "kernels/linear.h"

#include <cblas.h>

namespace dqt {
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

}  // namespace dqt
