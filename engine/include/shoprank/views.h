// Non-owning views over caller memory: pointer + extents, row-major, contiguous rows.
#pragma once

#include <cstdint>

namespace shoprank {

template <typename T>
struct MatrixView {
  T* data = nullptr;
  int64_t rows = 0;
  int64_t cols = 0;

  T* row(int64_t r) const { return data + r * cols; }
};

template <typename T>
using ConstMatrixView = MatrixView<const T>;

// Per-row lists of column indices in CSR form: row r owns indices[offsets[r] .. offsets[r+1]).
struct CsrView {
  const int64_t* offsets = nullptr;  // rows + 1 entries, non-decreasing, offsets[0] == 0
  const int64_t* indices = nullptr;  // offsets[rows] entries
  int64_t rows = 0;
};

}  // namespace shoprank
