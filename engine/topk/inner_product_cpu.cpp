// Fused inner-product top-k on the CPU. Each thread owns a contiguous range of items and
// walks it in tiles small enough to stay in L2: a tile is packed once into k-major panels,
// every query block is scored against it by the register-blocked kernel, and each small
// tile of scores is filtered straight into that thread's per-query collectors. The B x N
// score matrix never exists; per-thread survivors are merged at the end. One or two
// queries (one user's retrieval) skip the packing: it would copy every item to score them
// once or twice, so they read the item rows as they lie.
#include <algorithm>
#include <vector>

#include "shoprank/detail/dot_kernel.h"
#include "shoprank/detail/threads.h"
#include "shoprank/topk/topk.h"
#include "exclusions.h"
#include "row_scan.h"
#include "topk_checks.h"

namespace shoprank {
namespace {

using detail::kItems;
using detail::kQueries;

constexpr int64_t kQueryGroup = 1024;  // queries whose collectors are live at once
// Up to this many queries, items are scored in place (bench_retrieval: at B = 1, N = 1e5,
// d = 64 on one thread the packed path took 4.7x faiss's time, mostly packing).
constexpr int64_t kDirectQueries = 2;

// rows [first, first + count) of a row-major matrix into k-major panels of `width` rows,
// zero-padding the last panel.
void pack_panels(const float* matrix, int64_t first, int64_t count, int64_t d, int width,
                 float* panels) {
  for (int64_t p = 0; p * width < count; ++p) {
    float* panel = panels + p * d * width;
    for (int j = 0; j < width; ++j) {
      const int64_t row = p * width + j;
      if (row < count) {
        const float* src = matrix + (first + row) * d;
        for (int64_t k = 0; k < d; ++k) panel[k * width + j] = src[k];
      } else {
        for (int64_t k = 0; k < d; ++k) panel[k * width + j] = 0.0f;
      }
    }
  }
}

int64_t items_per_tile(int64_t d) {
  const int64_t fit_l2 = (int64_t{64} * 1024) / std::max<int64_t>(d, 1);  // ~256 KiB of floats
  return std::clamp<int64_t>(fit_l2 / kItems * kItems, kItems, 4096);
}

// One thread's share: items [begin, end) against queries [q0, q0 + nq), packed in `qpanels`.
void scan_item_range(const float* qpanels, int64_t nq, const float* items, int64_t d,
                     int64_t begin, int64_t end, detail::TopKCollector* collectors) {
  const int64_t tile_items = items_per_tile(d);
  std::vector<float> ipanels(static_cast<size_t>(tile_items * d));
  alignas(32) float tile[kQueries * kItems];
  for (int64_t t0 = begin; t0 < end; t0 += tile_items) {
    const int64_t count = std::min(tile_items, end - t0);
    pack_panels(items, t0, count, d, kItems, ipanels.data());
    for (int64_t qb = 0; qb < nq; qb += kQueries) {
      const float* qpanel = qpanels + qb * d;
      const int rows = static_cast<int>(std::min<int64_t>(kQueries, nq - qb));
      for (int64_t p = 0; p * kItems < count; ++p) {
        detail::dot_tile(qpanel, ipanels.data() + p * d * kItems, d, tile);
        const int64_t first = t0 + p * kItems;
        const int64_t valid = std::min<int64_t>(kItems, end - first);
        for (int r = 0; r < rows; ++r)
          detail::scan_scores(tile + r * kItems, valid, first, collectors[qb + r]);
      }
    }
  }
}

// a . b over d floats, in place.
inline float dot_row(const float* a, const float* b, int64_t d) {
  int64_t j = 0;
  float sum = 0.0f;
#if defined(__AVX2__) && defined(__FMA__)
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  for (; j + 16 <= d; j += 16) {
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + j), _mm256_loadu_ps(b + j), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + j + 8), _mm256_loadu_ps(b + j + 8), acc1);
  }
  for (; j + 8 <= d; j += 8)
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + j), _mm256_loadu_ps(b + j), acc0);
  acc0 = _mm256_add_ps(acc0, acc1);
  __m128 half = _mm_add_ps(_mm256_castps256_ps128(acc0), _mm256_extractf128_ps(acc0, 1));
  half = _mm_add_ps(half, _mm_movehl_ps(half, half));
  sum = _mm_cvtss_f32(_mm_add_ss(half, _mm_shuffle_ps(half, half, 0x55)));
#endif
  for (; j < d; ++j) sum += a[j] * b[j];
  return sum;
}

// The direct path's share: items [begin, end) against nq (<= kDirectQueries) row-major
// queries; each run of kItems items is scored for every query while it is in cache.
void scan_item_range_direct(const float* queries, int64_t nq, const float* items, int64_t d,
                            int64_t begin, int64_t end, detail::TopKCollector* collectors) {
  alignas(32) float scores[kItems];
  for (int64_t first = begin; first < end; first += kItems) {
    const int64_t valid = std::min<int64_t>(kItems, end - first);
    for (int64_t q = 0; q < nq; ++q) {
      for (int64_t i = 0; i < valid; ++i)
        scores[i] = dot_row(queries + q * d, items + (first + i) * d, d);
      detail::scan_scores(scores, valid, first, collectors[q]);
    }
  }
}

}  // namespace

void topk_inner_product(ConstMatrixView<float> queries, ConstMatrixView<float> items, int64_t k,
                        std::optional<CsrView> exclude, MatrixView<float> out_values,
                        MatrixView<int64_t> out_indices, const TopKOptions& options) {
  detail::check_outputs(queries.rows, k, out_values, out_indices);
  detail::check_inner_product(queries, items);
  const detail::Exclusions excluded(exclude, queries.rows, items.rows);
  if (k == 0 || queries.rows == 0) return;

  const int64_t d = queries.cols, n = items.rows;
  constexpr int64_t kMinItemsPerThread = 256;
  const int threads = static_cast<int>(std::clamp<int64_t>(
      n / kMinItemsPerThread, 1, detail::thread_count(options.num_threads)));
  const int64_t per_thread = (n + threads - 1) / threads;

  for (int64_t q0 = 0; q0 < queries.rows; q0 += kQueryGroup) {
    const int64_t nq = std::min(kQueryGroup, queries.rows - q0);
    const bool direct = nq <= kDirectQueries;
    const int64_t nq_padded = direct ? 0 : (nq + kQueries - 1) / kQueries * kQueries;
    std::vector<float> qpanels(static_cast<size_t>(nq_padded * d));
    if (!direct) pack_panels(queries.data, q0, nq, d, kQueries, qpanels.data());

    // collectors[t * nq + q]: thread t's survivors for query q0 + q
    std::vector<detail::TopKCollector> collectors(static_cast<size_t>(threads * nq));
#pragma omp parallel for schedule(static, 1) num_threads(threads)
    for (int t = 0; t < threads; ++t) {
      detail::TopKCollector* mine = collectors.data() + t * nq;
      for (int64_t q = 0; q < nq; ++q)
        mine[q] = detail::TopKCollector(k, excluded.row(q0 + q), excluded.row_size(q0 + q));
      const int64_t begin = std::min(n, t * per_thread), end = std::min(n, begin + per_thread);
      if (begin < end && direct)
        scan_item_range_direct(queries.row(q0), nq, items.data, d, begin, end, mine);
      else if (begin < end)
        scan_item_range(qpanels.data(), nq, items.data, d, begin, end, mine);
    }
#pragma omp parallel for num_threads(threads)
    for (int64_t q = 0; q < nq; ++q) {
      detail::TopKCollector& merged = collectors[q];
      for (int t = 1; t < threads; ++t) merged.absorb(collectors[t * nq + q]);
      merged.write_sorted(out_values.row(q0 + q), out_indices.row(q0 + q));
    }
  }
}

}  // namespace shoprank
