// CPU twin of the embedding op. The backward walks tokens in order per row partition, so the
// summation order (and the result) does not depend on the thread count.
#include "kernels/cpu/embedding.h"

#include <cstring>

#include "core/base/parallel.h"
#include "kernels/cpu/float_types.h"
#include "kernels/embedding.h"

namespace dqt::cpu {

template <typename T>
void EmbeddingForward(const int32_t* ids, int64_t n, const T* table, int d, T* out) {
  ParallelFor(
      n,
      [&](int64_t i) {
        std::memcpy(out + i * d, table + static_cast<int64_t>(ids[i]) * d, sizeof(T) * d);
      },
      64);
}

template <typename T>
void EmbeddingBackward(const int32_t* ids, int64_t n, const T* dout, int d, T* dtable) {
  // Partition the columns, not the tokens: no two threads touch the same element.
  constexpr int kChunk = 16;
  const int chunks = (d + kChunk - 1) / kChunk;
  ParallelFor(chunks, [&](int64_t c) {
    const int lo = static_cast<int>(c) * kChunk;
    const int hi = lo + kChunk < d ? lo + kChunk : d;
    for (int64_t i = 0; i < n; ++i) {
      T* row = dtable + static_cast<int64_t>(ids[i]) * d;
      const T* g = dout + i * d;
      for (int j = lo; j < hi; ++j) row[j] += g[j];
    }
  });
}

template void EmbeddingForward<float>(const int32_t*, int64_t, const float*, int, float*);
template void EmbeddingForward<double>(const int32_t*, int64_t, const double*, int, double*);
template void EmbeddingBackward<float>(const int32_t*, int64_t, const float*, int, float*);
template void EmbeddingBackward<double>(const int32_t*, int64_t, const double*, int, double*);

}  // namespace dqt::cpu

namespace dqt {

void EmbeddingForwardRef(const EmbeddingForwardArgs& a) {
  cpu::WithFloatType(a.out.dtype, "EmbeddingForward", [&](auto t) {
    using T = decltype(t);
    cpu::EmbeddingForward(a.ids.as<int32_t>(), a.ids.numel(), a.table.as<T>(),
                          static_cast<int>(a.table.dim(-1)), a.out.as<T>());
  });
}

void EmbeddingBackwardRef(const EmbeddingBackwardArgs& a) {
  cpu::WithFloatType(a.dout.dtype, "EmbeddingBackward", [&](auto t) {
    using T = decltype(t);
    cpu::EmbeddingBackward(a.ids.as<int32_t>(), a.ids.numel(), a.dout.as<T>(),
                           static_cast<int>(a.dtable.dim(-1)), a.dtable.as<T>());
  });
}

}  // namespace dqt
