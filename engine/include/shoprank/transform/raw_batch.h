// Raw request rows as the engine receives them: named columns of one of five types, with
// nulls. The transform (transform.h) turns them into model inputs.
#pragma once

#include <cmath>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace shoprank {

enum class InputType { Int64, Float64, String, StringList, TimestampMs };
const char* input_type_name(InputType type);
InputType parse_input_type(const std::string& name, const std::string& where);

struct RawColumn {
  InputType type = InputType::Int64;
  int64_t rows = 0;
  std::vector<int64_t> ints;          // Int64 and TimestampMs (milliseconds since the epoch, UTC)
  std::vector<double> floats;         // Float64; NaN is a missing value
  std::vector<std::string> strings;   // String: one per row; StringList: every element
  std::vector<int64_t> offsets;       // StringList: rows + 1, row r owns [offsets[r], offsets[r+1])
  std::vector<uint8_t> valid;         // one per row, 0 = null; empty means every row is present
  std::vector<uint8_t> element_valid; // StringList: one per element; empty means all present

  // A row holds a value: valid, and for Float64 not NaN (NaN is a float column's null).
  bool present(int64_t row) const {
    if (type == InputType::Float64 && std::isnan(floats[row])) return false;
    return valid.empty() || valid[row] != 0;
  }
  bool element_present(int64_t e) const { return element_valid.empty() || element_valid[e] != 0; }
};

// Columns by name; every column has the same number of rows, or one row that stands for
// every row (a request's user features beside its candidates).
using RawBatch = std::map<std::string, RawColumn>;

// Checks one column's arrays against its row count; errors name the column.
void check_column(const std::string& name, const RawColumn& column);
// Checks the named columns (all in batch) and returns their row count: one-row columns
// broadcast, so it is the length of the others, or 1 when every one has one row.
int64_t batch_rows(const RawBatch& batch, const std::vector<std::string>& names);

// The rows of two columns side by side (one row broadcasts): none if either has none,
// else the longer.
inline int64_t joint_rows(int64_t a, int64_t b) {
  return a == 0 || b == 0 ? 0 : (a > b ? a : b);
}

// The row of a column that stands for batch row r (row 0 of a broadcast column).
inline int64_t source_row(const RawColumn& column, int64_t r) { return column.rows == 1 ? 0 : r; }

}  // namespace shoprank
