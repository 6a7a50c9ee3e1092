// Top-k over a score matrix on the CPU: rows in parallel, and a long row split into column
// chunks whose survivors are merged when there are fewer rows than threads.
#include <algorithm>
#include <vector>

#include "shoprank/detail/threads.h"
#include "shoprank/topk/topk.h"
#include "exclusions.h"
#include "row_scan.h"
#include "topk_checks.h"

namespace shoprank {

void topk(ConstMatrixView<float> scores, int64_t k, std::optional<CsrView> exclude,
          MatrixView<float> out_values, MatrixView<int64_t> out_indices,
          const TopKOptions& options) {
  detail::check_outputs(scores.rows, k, out_values, out_indices);
  detail::check_columns(scores.cols);
  const detail::Exclusions excluded(exclude, scores.rows, scores.cols);
  if (k == 0 || scores.rows == 0) return;

  const int64_t rows = scores.rows, columns = scores.cols;
  const int threads = detail::thread_count(options.num_threads);
  constexpr int64_t kMinChunk = 1 << 14;
  const int64_t chunks_per_row =
      rows >= threads ? 1 : std::clamp<int64_t>(columns / kMinChunk, 1, (threads + rows - 1) / rows);
  const int64_t chunk = (columns + chunks_per_row - 1) / std::max<int64_t>(chunks_per_row, 1);

  std::vector<detail::TopKCollector> parts(static_cast<size_t>(rows * chunks_per_row));
#pragma omp parallel for schedule(dynamic) num_threads(threads)
  for (int64_t task = 0; task < rows * chunks_per_row; ++task) {
    const int64_t r = task / chunks_per_row, begin = (task % chunks_per_row) * chunk;
    const int64_t end = std::min(columns, begin + chunk);
    auto& collector = parts[task] = detail::TopKCollector(k, excluded.row(r), excluded.row_size(r));
    if (begin < end) detail::scan_scores(scores.row(r) + begin, end - begin, begin, collector);
    if (chunks_per_row == 1) {
      collector.write_sorted(out_values.row(r), out_indices.row(r));
      collector = detail::TopKCollector();  // free the buffer now: rows may be many
    }
  }
  if (chunks_per_row == 1) return;
#pragma omp parallel for num_threads(threads)
  for (int64_t r = 0; r < rows; ++r) {
    auto& merged = parts[r * chunks_per_row];
    for (int64_t c = 1; c < chunks_per_row; ++c) merged.absorb(parts[r * chunks_per_row + c]);
    merged.write_sorted(out_values.row(r), out_indices.row(r));
  }
}

}  // namespace shoprank
