// Feeds a run of consecutive scores to a collector, rejecting most of them eight at a time
// against its threshold before any scalar work.
#pragma once

#include <cstdint>

#include "shoprank/detail/dot_kernel.h"
#include "topk_collector.h"

namespace shoprank::detail {

inline void scan_scores(const float* scores, int64_t n, int64_t first_index, TopKCollector& out) {
  int64_t j = 0;
#if defined(__AVX2__)
  for (; j + 8 <= n; j += 8) {
    const __m256 v = _mm256_loadu_ps(scores + j);
    int mask = 0xff;
    if (!out.admits_every_number())
      mask = _mm256_movemask_ps(_mm256_cmp_ps(v, _mm256_set1_ps(out.threshold()), _CMP_GT_OQ));
    while (mask) {
      const int lane = __builtin_ctz(static_cast<unsigned>(mask));
      out.offer(scores[j + lane], first_index + j + lane);  // re-checks against the new bar
      mask &= mask - 1;
    }
  }
#endif
  for (; j < n; ++j) out.offer(scores[j], first_index + j);
}

}  // namespace shoprank::detail
