// Host thread count as seen by OpenMP (OMP_NUM_THREADS honoured).
#include "core/base/parallel.h"

#include <omp.h>

namespace dqt {

int HostThreads() { return omp_get_max_threads(); }

}  // namespace dqt
