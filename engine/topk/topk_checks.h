// Shape checks shared by the CPU and CUDA entry points.
#pragma once

#include <cstdint>

#include "shoprank/errors.h"
#include "shoprank/views.h"

namespace shoprank::detail {

inline void check_outputs(int64_t rows, int64_t k, const MatrixView<float>& values,
                          const MatrixView<int64_t>& indices) {
  SHOPRANK_EXPECTS(k >= 0, "k: must be >= 0, got ", k);
  SHOPRANK_EXPECTS(values.rows == rows && values.cols == k, "out_values: expected shape (", rows,
                   ", ", k, "), got (", values.rows, ", ", values.cols, ")");
  SHOPRANK_EXPECTS(indices.rows == rows && indices.cols == k, "out_indices: expected shape (",
                   rows, ", ", k, "), got (", indices.rows, ", ", indices.cols, ")");
}

inline void check_columns(int64_t columns) {
  // Rank keys keep the column index in 32 bits.
  SHOPRANK_EXPECTS(columns < (int64_t{1} << 32) - 1, "number of items: at most 2^32 - 2, got ",
                   columns);
}

inline void check_inner_product(const ConstMatrixView<float>& queries,
                                const ConstMatrixView<float>& items) {
  SHOPRANK_EXPECTS(queries.cols == items.cols, "items: dimension d=", items.cols,
                   " does not match queries' d=", queries.cols);
  check_columns(items.rows);
}

}  // namespace shoprank::detail
