// Validated, per-row sorted and de-duplicated copy of an exclusion CSR, so collectors can
// binary-search it and count how many columns each row really has.
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <vector>

#include "shoprank/errors.h"
#include "shoprank/views.h"

namespace shoprank::detail {

class Exclusions {
 public:
  Exclusions(const std::optional<CsrView>& csr, int64_t rows, int64_t columns)
      : offsets_(static_cast<size_t>(rows) + 1, 0) {
    if (!csr) return;
    SHOPRANK_EXPECTS(csr->rows == rows, "exclude: has ", csr->rows, " rows but there are ", rows,
                     " queries");
    SHOPRANK_EXPECTS(csr->offsets[0] == 0, "exclude: offsets must start at 0, got ",
                     csr->offsets[0]);
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t begin = csr->offsets[r], end = csr->offsets[r + 1];
      SHOPRANK_EXPECTS(end >= begin, "exclude: offsets must be non-decreasing (row ", r, ")");
      for (int64_t i = begin; i < end; ++i) {
        const int64_t column = csr->indices[i];
        SHOPRANK_EXPECTS(column >= 0 && column < columns, "exclude: index ", column, " in row ", r,
                         " is out of range [0, ", columns, ")");
        indices_.push_back(column);
      }
      auto first = indices_.begin() + offsets_[r];
      std::sort(first, indices_.end());
      indices_.erase(std::unique(first, indices_.end()), indices_.end());
      offsets_[r + 1] = static_cast<int64_t>(indices_.size());
    }
  }

  const int64_t* row(int64_t r) const { return indices_.data() + offsets_[r]; }
  int64_t row_size(int64_t r) const { return offsets_[r + 1] - offsets_[r]; }

 private:
  std::vector<int64_t> offsets_;
  std::vector<int64_t> indices_;
};

}  // namespace shoprank::detail
