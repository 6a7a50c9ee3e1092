// Top-k selection on the CPU: from a score matrix, or fused with inner-product scoring.
//
// Semantics, shared by every backend of shoprank:
//  * each output row is sorted best first; ties go to the lower column index;
//  * NaN ranks below every number (it is never selected before a number);
//  * when fewer than k columns are eligible, the row is padded with index -1 and value -inf;
//  * excluded columns are never returned.
#pragma once

#include <cstdint>
#include <optional>

#include "shoprank/views.h"

namespace shoprank {

struct TopKOptions {
  int num_threads = 0;  // 0: OpenMP's default (OMP_NUM_THREADS or all cores)
};

// The k best columns of every row of `scores` (B x N) into `out_values` / `out_indices` (B x k).
void topk(ConstMatrixView<float> scores, int64_t k, std::optional<CsrView> exclude,
          MatrixView<float> out_values, MatrixView<int64_t> out_indices,
          const TopKOptions& options = {});

// Scores every query (B x d) against every item (N x d) by inner product and keeps the k
// best items per query, without materialising the B x N score matrix.
void topk_inner_product(ConstMatrixView<float> queries, ConstMatrixView<float> items, int64_t k,
                        std::optional<CsrView> exclude, MatrixView<float> out_values,
                        MatrixView<int64_t> out_indices, const TopKOptions& options = {});

}  // namespace shoprank
