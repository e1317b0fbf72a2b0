// Host parallelism: a thin OpenMP wrapper so kernels state their grain once.
#pragma once

#include <cstdint>

namespace dqt {

// Runs body(i) for i in [0, n), split over the OpenMP team when n is at least `min_parallel`.
template <typename F>
void ParallelFor(int64_t n, F&& body, int64_t min_parallel = 2) {
#pragma omp parallel for schedule(static) if (n >= min_parallel)
  for (int64_t i = 0; i < n; ++i) body(i);
}

int HostThreads();

}  // namespace dqt
