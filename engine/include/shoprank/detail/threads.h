// How many OpenMP threads a call uses.
#pragma once

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace shoprank::detail {

inline int thread_count(int requested) {
#if defined(_OPENMP)
  return requested > 0 ? requested : omp_get_max_threads();
#else
  (void)requested;
  return 1;
#endif
}

}  // namespace shoprank::detail
