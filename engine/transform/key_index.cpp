#include "shoprank/transform/key_index.h"

#include <cmath>
#include <cstring>

#include "shoprank/errors.h"

namespace shoprank {

namespace {
uint64_t double_bits(double value) {
  if (value == 0.0) value = 0.0;  // -0.0 and 0.0 are one key
  uint64_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  return bits;
}

bool is_integral(double value) {
  return std::isfinite(value) && value == std::floor(value) && std::fabs(value) < 9.2e18;
}
}  // namespace

KeyIndex::KeyIndex(const TensorFile& tensors, const std::string& tensor,
                   const std::string& key_type, const std::string& where) {
  if (key_type == "int64") {
    type_ = KeyType::Int64;
    auto [data, n] = tensors.vector<int64_t>(tensor);
    size_ = n;
    ints_.reserve(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) ints_.emplace(data[i], i);
  } else if (key_type == "float64") {
    type_ = KeyType::Float64;
    auto [data, n] = tensors.vector<double>(tensor);
    size_ = n;
    doubles_.reserve(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) doubles_.emplace(double_bits(data[i]), i);
  } else if (key_type == "string") {
    type_ = KeyType::String;
    strings_ = tensors.strings(tensor);
    size_ = static_cast<int64_t>(strings_.size());
    views_.reserve(strings_.size());
    for (int64_t i = 0; i < size_; ++i) views_.emplace(strings_[i], i);
  } else {
    detail::throw_invalid(where, ": unknown key type \"", key_type, "\"");
  }
  // emplace keeps the first of duplicate keys, as a Python dict built from pairs keeps the last;
  // the exporter writes unique keys, so a duplicate means a damaged artifact
  const size_t unique = ints_.size() + doubles_.size() + views_.size();
  SHOPRANK_EXPECTS(static_cast<int64_t>(unique) == size_, where, ": ", size_ - int64_t(unique),
                   " duplicate keys in ", tensor);
}

int64_t KeyIndex::find_int(int64_t value) const {
  if (type_ == KeyType::Int64) {
    auto it = ints_.find(value);
    return it == ints_.end() ? -1 : it->second;
  }
  if (type_ == KeyType::Float64) return find_double(static_cast<double>(value));
  return -1;
}

int64_t KeyIndex::find_double(double value) const {
  if (type_ == KeyType::Float64) {
    auto it = doubles_.find(double_bits(value));
    return it == doubles_.end() ? -1 : it->second;
  }
  if (type_ == KeyType::Int64 && is_integral(value)) return find_int(static_cast<int64_t>(value));
  return -1;
}

int64_t KeyIndex::find_string(std::string_view value) const {
  if (type_ != KeyType::String) return -1;
  auto it = views_.find(value);
  return it == views_.end() ? -1 : it->second;
}

int64_t KeyIndex::find(const RawColumn& column, int64_t row) const {
  switch (column.type) {
    case InputType::Int64:
    case InputType::TimestampMs: return find_int(column.ints[row]);
    case InputType::Float64: return find_double(column.floats[row]);
    case InputType::String: return find_string(column.strings[row]);
    case InputType::StringList: break;
  }
  detail::throw_invalid("a list column cannot be a lookup key");
}

}  // namespace shoprank
