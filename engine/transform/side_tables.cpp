#include "shoprank/transform/side_tables.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <set>

#include "shoprank/errors.h"

namespace shoprank {

namespace {
std::vector<uint8_t> valid_flags(const TensorFile& tensors, const std::string& name, int64_t rows) {
  auto [data, n] = tensors.vector<uint8_t>(name);
  SHOPRANK_EXPECTS(n == rows, name, ": ", n, " flags for ", rows, " rows");
  return {data, data + n};
}

template <typename T>
std::vector<T> values(const TensorFile& tensors, const std::string& name, int64_t rows) {
  auto [data, n] = tensors.vector<T>(name);
  SHOPRANK_EXPECTS(n == rows, name, ": ", n, " values for ", rows, " rows");
  return {data, data + n};
}

RawColumn load_column(const json::Value& c, const TensorFile& tensors, int64_t rows) {
  RawColumn col;
  col.type = parse_input_type(c["type"].as_string(), c["type"].path());
  col.rows = rows;
  const std::string& tensor = c["values"].as_string();
  col.valid = valid_flags(tensors, c["valid"].as_string(), rows);
  switch (col.type) {
    case InputType::Int64:
    case InputType::TimestampMs: col.ints = values<int64_t>(tensors, tensor, rows); break;
    case InputType::Float64: col.floats = values<double>(tensors, tensor, rows); break;
    case InputType::String:
      col.strings = tensors.strings(tensor);
      SHOPRANK_EXPECTS(int64_t(col.strings.size()) == rows, tensor, ": ", col.strings.size(),
                       " strings for ", rows, " rows");
      break;
    case InputType::StringList:
      col.strings = tensors.strings(tensor);
      col.offsets = values<int64_t>(tensors, c["rows"].as_string(), rows + 1);
      col.element_valid = values<uint8_t>(tensors, c["element_valid"].as_string(),
                                          static_cast<int64_t>(col.strings.size()));
      break;
  }
  check_column(c["name"].as_string(), col);
  return col;
}

// The table's keys as a raw column of the type the transform reads the key column as, or
// an empty optional when no feature may be computed ahead from the key: the key is not an
// input, or a request's value could find a key it differs from (float keys: -0.0 finds 0.0).
std::optional<RawColumn> key_column(const json::Value& t, const TensorFile& tensors,
                                    const FeatureTransform& transform) {
  const std::string& key = t["key"].as_string(), &key_type = t["key_type"].as_string();
  const std::string& tensor = t["keys"].as_string();
  for (const auto& input : transform.inputs()) {
    if (input.name != key) continue;
    RawColumn col;
    col.type = input.type;
    if (key_type == "int64" && (input.type == InputType::Int64 ||
                                input.type == InputType::TimestampMs)) {
      auto [data, n] = tensors.vector<int64_t>(tensor);
      col.ints.assign(data, data + n);
      col.rows = n;
    } else if (key_type == "string" && input.type == InputType::String) {
      col.strings = tensors.strings(tensor);
      col.rows = static_cast<int64_t>(col.strings.size());
    } else {
      return std::nullopt;
    }
    return col;
  }
  return std::nullopt;
}

// Computes every feature that reads only the table's columns (and key) for every table row,
// and notes the columns that the other features read too. The key joins the columns only
// while the features are computed: the table itself is not copied.
void compute_ahead(SideTable& table, std::optional<RawColumn> key,
                   const FeatureTransform& transform) {
  const bool with_key = key && table.columns.emplace(table.key, std::move(*key)).second;
  std::set<std::string> read_elsewhere;
  for (size_t i = 0; i < transform.feature_names().size(); ++i) {
    FeatureColumn column;
    if (transform.compute(i, table.columns, column)) {
      table.features.emplace_back(i, std::move(column));
      continue;
    }
    const auto& inputs = transform.feature_inputs(i);
    read_elsewhere.insert(inputs.begin(), inputs.end());
  }
  if (with_key) table.columns.erase(table.key);
  for (const auto& [name, column] : table.columns) {
    if (read_elsewhere.count(name)) table.still_read.push_back(name);
  }
}
}  // namespace

std::vector<int64_t> SideTable::rows_of(const RawColumn& key_column) const {
  std::vector<int64_t> rows(static_cast<size_t>(key_column.rows), -1);
  for (int64_t r = 0; r < key_column.rows; ++r) {
    if (key_column.present(r)) rows[r] = keys.find(key_column, r);
  }
  return rows;
}

SideTables::SideTables(const json::Value& ranker, const TensorFile& tensors,
                       const FeatureTransform& transform) {
  for (const auto& [name, t] : ranker["tables"].members()) {
    SideTable table;
    table.name = name;
    table.key = t["key"].as_string();
    table.keys = KeyIndex(tensors, t["keys"].as_string(), t["key_type"].as_string(),
                          "side table " + name);
    const int64_t rows = t["rows"].as_int();
    SHOPRANK_EXPECTS(rows == table.keys.size(), "side table ", name, ": ", table.keys.size(),
                     " keys for ", rows, " rows");
    for (const auto& c : t["columns"].items()) {
      SHOPRANK_EXPECTS(table.columns.emplace(c["name"].as_string(),
                                             load_column(c, tensors, rows)).second,
                       c.path(), ": column \"", c["name"].as_string(), "\" listed twice");
    }
    compute_ahead(table, key_column(t, tensors, transform), transform);
    tables_.push_back(std::move(table));
  }
}

void SideTables::fill(RawBatch& batch, std::vector<KnownFeatures>& known) const {
  for (const SideTable& table : tables_) {
    bool carries_none = true, lacks_some = false;
    for (const auto& [name, column] : table.columns) {
      const bool carried = batch.count(name) > 0;
      carries_none = carries_none && !carried;
      lacks_some = lacks_some || !carried;
    }
    if (!lacks_some) continue;
    auto key = batch.find(table.key);
    if (key == batch.end()) continue;  // the transform reports what it then lacks
    check_column(table.key, key->second);
    SHOPRANK_EXPECTS(key->second.type != InputType::StringList, "column \"", table.key,
                     "\": a list cannot be the key of side table ", table.name);
    std::vector<int64_t> rows = table.rows_of(key->second);
    const bool all_known = std::none_of(rows.begin(), rows.end(), [](int64_t r) { return r < 0; });
    if (carries_none && all_known && !table.features.empty()) {
      for (const auto& name : table.still_read) {
        batch.emplace(name, gather(table.columns.at(name), rows));
      }
      known.push_back({table.key, &table.features, std::move(rows)});
      continue;
    }
    for (const auto& [name, column] : table.columns) {
      if (!batch.count(name)) batch.emplace(name, gather(column, rows));
    }
  }
}

RawColumn gather(const RawColumn& column, const std::vector<int64_t>& rows) {
  RawColumn out;
  out.type = column.type;
  out.rows = static_cast<int64_t>(rows.size());
  out.valid.resize(rows.size());
  if (column.type == InputType::StringList) out.offsets.push_back(0);
  for (size_t r = 0; r < rows.size(); ++r) {
    const int64_t at = rows[r];
    const bool present = at >= 0 && column.present(at);
    out.valid[r] = present;
    switch (column.type) {
      case InputType::Int64:
      case InputType::TimestampMs: out.ints.push_back(present ? column.ints[at] : 0); break;
      case InputType::Float64:
        out.floats.push_back(present ? column.floats[at] : std::numeric_limits<double>::quiet_NaN());
        break;
      case InputType::String: out.strings.push_back(present ? column.strings[at] : std::string()); break;
      case InputType::StringList:
        if (present) {
          for (int64_t e = column.offsets[at]; e < column.offsets[at + 1]; ++e) {
            out.strings.push_back(column.strings[e]);
            out.element_valid.push_back(column.element_present(e));
          }
        }
        out.offsets.push_back(static_cast<int64_t>(out.strings.size()));
        break;
    }
  }
  return out;
}

}  // namespace shoprank
