// The register-blocked inner-product micro-kernel: a kQueries x kItems tile of scores from
// k-major packed panels. AVX2+FMA when compiled for it, portable C++ otherwise.
#pragma once

#include <cstdint>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define SHOPRANK_SIMD "avx2+fma"
#else
#define SHOPRANK_SIMD "generic"
#endif

namespace shoprank::detail {

constexpr int kQueries = 6;  // rows of the micro-tile (broadcast operands)
constexpr int kItems = 16;   // columns of the micro-tile (two 8-float vectors)

// query_panel: d x kQueries, item_panel: d x kItems (both k-major); tile: kQueries x kItems.
inline void dot_tile(const float* query_panel, const float* item_panel, int64_t d, float* tile) {
#if defined(__AVX2__) && defined(__FMA__)
  __m256 acc[kQueries][2];
  for (int r = 0; r < kQueries; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
  for (int64_t k = 0; k < d; ++k) {
    const __m256 lo = _mm256_loadu_ps(item_panel + k * kItems);
    const __m256 hi = _mm256_loadu_ps(item_panel + k * kItems + 8);
    for (int r = 0; r < kQueries; ++r) {
      const __m256 q = _mm256_broadcast_ss(query_panel + k * kQueries + r);
      acc[r][0] = _mm256_fmadd_ps(q, lo, acc[r][0]);
      acc[r][1] = _mm256_fmadd_ps(q, hi, acc[r][1]);
    }
  }
  for (int r = 0; r < kQueries; ++r) {
    _mm256_storeu_ps(tile + r * kItems, acc[r][0]);
    _mm256_storeu_ps(tile + r * kItems + 8, acc[r][1]);
  }
#else
  float acc[kQueries][kItems] = {};
  for (int64_t k = 0; k < d; ++k)
    for (int r = 0; r < kQueries; ++r)
      for (int j = 0; j < kItems; ++j)
        acc[r][j] += query_panel[k * kQueries + r] * item_panel[k * kItems + j];
  for (int r = 0; r < kQueries; ++r)
    for (int j = 0; j < kItems; ++j) tile[r * kItems + j] = acc[r][j];
#endif
}

}  // namespace shoprank::detail
