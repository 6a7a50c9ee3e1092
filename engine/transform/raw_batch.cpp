#include "shoprank/transform/raw_batch.h"

#include "shoprank/errors.h"

namespace shoprank {

const char* input_type_name(InputType type) {
  switch (type) {
    case InputType::Int64: return "int64";
    case InputType::Float64: return "float64";
    case InputType::String: return "string";
    case InputType::StringList: return "string_list";
    case InputType::TimestampMs: return "timestamp_ms";
  }
  return "?";
}

InputType parse_input_type(const std::string& name, const std::string& where) {
  for (InputType t : {InputType::Int64, InputType::Float64, InputType::String,
                      InputType::StringList, InputType::TimestampMs}) {
    if (name == input_type_name(t)) return t;
  }
  detail::throw_invalid(where, ": unknown input type \"", name, "\"");
}

void check_column(const std::string& name, const RawColumn& c) {
  const auto n = static_cast<size_t>(c.rows);
  SHOPRANK_EXPECTS(c.rows >= 0, "column \"", name, "\": negative row count");
  SHOPRANK_EXPECTS(c.valid.empty() || c.valid.size() == n, "column \"", name, "\": ",
                   c.valid.size(), " validity flags for ", c.rows, " rows");
  switch (c.type) {
    case InputType::Int64:
    case InputType::TimestampMs:
      SHOPRANK_EXPECTS(c.ints.size() == n, "column \"", name, "\": ", c.ints.size(),
                       " values for ", c.rows, " rows");
      break;
    case InputType::Float64:
      SHOPRANK_EXPECTS(c.floats.size() == n, "column \"", name, "\": ", c.floats.size(),
                       " values for ", c.rows, " rows");
      break;
    case InputType::String:
      SHOPRANK_EXPECTS(c.strings.size() == n, "column \"", name, "\": ", c.strings.size(),
                       " values for ", c.rows, " rows");
      break;
    case InputType::StringList: {
      SHOPRANK_EXPECTS(c.offsets.size() == n + 1, "column \"", name, "\": ", c.offsets.size(),
                       " offsets for ", c.rows, " rows (need rows + 1)");
      SHOPRANK_EXPECTS(c.offsets[0] == 0, "column \"", name, "\": offsets must start at 0");
      for (size_t r = 0; r < n; ++r) {
        SHOPRANK_EXPECTS(c.offsets[r] <= c.offsets[r + 1], "column \"", name,
                         "\": offsets decrease at row ", r);
      }
      SHOPRANK_EXPECTS(static_cast<size_t>(c.offsets[n]) == c.strings.size(), "column \"", name,
                       "\": offsets end at ", c.offsets[n], " but there are ", c.strings.size(),
                       " elements");
      SHOPRANK_EXPECTS(c.element_valid.empty() || c.element_valid.size() == c.strings.size(),
                       "column \"", name, "\": ", c.element_valid.size(),
                       " element validity flags for ", c.strings.size(), " elements");
      break;
    }
  }
}

int64_t batch_rows(const RawBatch& batch, const std::vector<std::string>& names) {
  int64_t rows = -1;
  std::string first;
  for (const auto& name : names) {
    const RawColumn& column = batch.at(name);
    check_column(name, column);
    if (column.rows == 1) continue;  // broadcast
    if (rows < 0) rows = column.rows, first = name;
    SHOPRANK_EXPECTS(column.rows == rows, "columns \"", first, "\" and \"", name,
                     "\" have different lengths (", rows, " and ", column.rows,
                     "); give every column the same number of rows, or one row to broadcast");
  }
  return rows < 0 ? (names.empty() ? 0 : 1) : rows;
}

}  // namespace shoprank
