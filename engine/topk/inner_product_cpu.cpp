// Fused inner-product top-k on the CPU. Each thread owns a contiguous range of items and
// walks it in tiles small enough to stay in L2: a tile is packed once into k-major panels,
// every query block is scored against it by the register-blocked kernel, and each small
// tile of scores is filtered straight into that thread's per-query collectors. The B x N
// score matrix never exists; per-thread survivors are merged at the end.
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
    const int64_t nq_padded = (nq + kQueries - 1) / kQueries * kQueries;
    std::vector<float> qpanels(static_cast<size_t>(nq_padded * d));
    pack_panels(queries.data, q0, nq, d, kQueries, qpanels.data());

    // collectors[t * nq + q]: thread t's survivors for query q0 + q
    std::vector<detail::TopKCollector> collectors(static_cast<size_t>(threads * nq));
#pragma omp parallel for schedule(static, 1) num_threads(threads)
    for (int t = 0; t < threads; ++t) {
      detail::TopKCollector* mine = collectors.data() + t * nq;
      for (int64_t q = 0; q < nq; ++q)
        mine[q] = detail::TopKCollector(k, excluded.row(q0 + q), excluded.row_size(q0 + q));
      const int64_t begin = std::min(n, t * per_thread), end = std::min(n, begin + per_thread);
      if (begin < end) scan_item_range(qpanels.data(), nq, items.data, d, begin, end, mine);
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
