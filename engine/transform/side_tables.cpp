#include "shoprank/transform/side_tables.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <unordered_map>

#include "shoprank/errors.h"

namespace shoprank {

// Per-value features by (feature, given values); entries are never removed, so pointers
// to them stay valid for the Ranker's life. Bounded: 64 MiB per table (keys and entries
// counted), and 1,024 values per feature, so that a feature crossed with a value of many
// (a user id) neither costs a whole-table compute for every new value for ever nor takes
// the room of the few-valued ones (an age band); past either, features are computed per row.
struct SideTable::ValueCache {
  static constexpr size_t kBudgetBytes = size_t(64) << 20;
  static constexpr size_t kValuesPerFeature = 1024;
  static constexpr size_t kEntryOverheadBytes = 128;  // the map node, the vector, the name
  std::shared_mutex lock;
  std::unordered_map<std::string, std::vector<std::pair<size_t, FeatureColumn>>> entries;
  std::unordered_map<size_t, size_t> values;  // entries per feature
  size_t bytes = 0;

  bool full(size_t feature) const {  // call with the lock held
    auto it = values.find(feature);
    return bytes >= kBudgetBytes || (it != values.end() && it->second >= kValuesPerFeature);
  }
};

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
// finds the per-value features (table columns, not the key, and inputs from elsewhere), and
// notes the columns that the other features read too. The key joins the columns only while
// the features are computed: the table itself is not copied.
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
    SideTable::PerValue f{i, {}, {}};
    for (const auto& name : inputs) (table.columns.count(name) ? f.read : f.given).push_back(name);
    const bool reads_key = std::count(f.read.begin(), f.read.end(), table.key) > 0;
    if (!f.read.empty() && !f.given.empty() && !reads_key) {
      table.per_value.push_back(std::move(f));
      continue;
    }
    read_elsewhere.insert(inputs.begin(), inputs.end());
  }
  table.cache = std::make_shared<SideTable::ValueCache>();
  if (with_key) table.columns.erase(table.key);
  for (const auto& [name, column] : table.columns) {
    if (read_elsewhere.count(name)) table.still_read.push_back(name);
  }
}
}  // namespace

namespace {
// Row 0 of a column as bytes that tell its values apart (type, null, value).
void append_value_key(const RawColumn& c, std::string& key) {
  auto add = [&key](const void* data, size_t n) { key.append(static_cast<const char*>(data), n); };
  auto add_text = [&](const std::string& text) {
    const uint64_t n = text.size();
    add(&n, sizeof n);
    key += text;
  };
  const bool present = c.present(0);
  key += static_cast<char>(c.type);
  key += static_cast<char>(present);
  if (!present) return;
  switch (c.type) {
    case InputType::Int64:
    case InputType::TimestampMs: add(&c.ints[0], sizeof(int64_t)); break;
    case InputType::Float64: add(&c.floats[0], sizeof(double)); break;
    case InputType::String: add_text(c.strings[0]); break;
    case InputType::StringList: {
      const int64_t n = c.offsets[1] - c.offsets[0];
      add(&n, sizeof n);
      for (int64_t e = c.offsets[0]; e < c.offsets[1]; ++e) {
        key += static_cast<char>(c.element_present(e));
        add_text(c.strings[e]);
      }
      break;
    }
  }
}

size_t feature_bytes(const FeatureColumn& f) {
  return f.ids.size() * sizeof(int32_t) + f.values.size() * sizeof(float) +
         f.offsets.size() * sizeof(int64_t);
}
}  // namespace

const std::vector<std::pair<size_t, FeatureColumn>>* SideTable::per_value_feature(
    const PerValue& f, const RawBatch& batch, const FeatureTransform& transform) const {
  std::string key(reinterpret_cast<const char*>(&f.feature), sizeof f.feature);
  for (const auto& name : f.given) {
    auto it = batch.find(name);
    if (it == batch.end() || it->second.rows != 1) return nullptr;
    check_column(name, it->second);
    append_value_key(it->second, key);
  }
  {
    std::shared_lock<std::shared_mutex> reading(cache->lock);
    auto found = cache->entries.find(key);
    if (found != cache->entries.end()) return &found->second;
    if (cache->full(f.feature)) return nullptr;
  }
  RawBatch columns;  // this table's columns it reads, every row, and the given values
  for (const auto& name : f.read) columns.emplace(name, this->columns.at(name));
  for (const auto& name : f.given) columns.emplace(name, batch.at(name));
  FeatureColumn column;
  if (!transform.compute(f.feature, columns, column)) return nullptr;  // a type the transform names
  std::unique_lock<std::shared_mutex> writing(cache->lock);
  auto found = cache->entries.find(key);
  if (found != cache->entries.end()) return &found->second;  // another thread was quicker
  if (cache->full(f.feature)) return nullptr;
  cache->bytes += key.size() + feature_bytes(column) + ValueCache::kEntryOverheadBytes;
  ++cache->values[f.feature];
  auto entry = cache->entries.try_emplace(std::move(key)).first;
  entry->second.emplace_back(f.feature, std::move(column));
  return &entry->second;
}

std::vector<int64_t> SideTable::rows_of(const RawColumn& key_column) const {
  std::vector<int64_t> rows(static_cast<size_t>(key_column.rows), -1);
  for (int64_t r = 0; r < key_column.rows; ++r) {
    if (key_column.present(r)) rows[r] = keys.find(key_column, r);
  }
  return rows;
}

SideTables::SideTables(const json::Value& ranker, const TensorFile& tensors,
                       const FeatureTransform& transform)
    : transform_(&transform) {
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
  // many-row tables whose per-value features wait until every table has filled its
  // columns (a given value may come from another table): (table, its entry in known)
  std::vector<std::pair<const SideTable*, size_t>> waiting;
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
    if (carries_none && all_known && !(table.features.empty() && table.per_value.empty())) {
      fill_columns(batch, table, table.still_read, rows);
      if (rows.size() == 1) {  // a one-row table (the user's) gives its values as columns
        for (const auto& f : table.per_value) fill_columns(batch, table, f.read, rows);
      } else if (!table.per_value.empty()) {
        waiting.emplace_back(&table, known.size());
      }
      known.push_back({table.key, &table.features, std::move(rows)});
      continue;
    }
    for (const auto& [name, column] : table.columns) {
      if (!batch.count(name)) batch.emplace(name, gather(column, rows));
    }
  }
  for (const auto& [table, at] : waiting) {
    for (const auto& f : table->per_value) {
      if (const auto* features = table->per_value_feature(f, batch, *transform_)) {
        std::vector<int64_t> rows = known[at].rows;
        known.push_back({table->key, features, std::move(rows)});
      } else {
        fill_columns(batch, *table, f.read, known[at].rows);
      }
    }
  }
}

void SideTables::fill_columns(RawBatch& batch, const SideTable& table,
                              const std::vector<std::string>& names,
                              const std::vector<int64_t>& rows) {
  for (const auto& name : names) {
    if (!batch.count(name)) batch.emplace(name, gather(table.columns.at(name), rows));
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
