// Key -> position maps for the fitted tables (category keys, statistics keys, side-table
// keys), matching raw values the way reference/transform.py does: an int64 raw value
// finds an int64 key or the float64 key of the same value; a float64 raw value finds a
// float64 key, or an int64 key when it is integral; text finds text.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "shoprank/io/tensor_file.h"
#include "shoprank/transform/raw_batch.h"

namespace shoprank {

enum class KeyType { Int64, Float64, String };

class KeyIndex {
 public:
  KeyIndex() = default;
  // The keys stored as tensor `tensor` (I64, F64, or text <tensor>.bytes/.offsets);
  // key_type is "int64", "float64" or "string". `where` names the table in errors.
  KeyIndex(const TensorFile& tensors, const std::string& tensor, const std::string& key_type,
           const std::string& where);

  KeyType type() const { return type_; }
  int64_t size() const { return size_; }
  // Position of the key, or -1 when absent. Callers handle nulls before asking.
  int64_t find_int(int64_t value) const;
  int64_t find_double(double value) const;
  int64_t find_string(std::string_view value) const;
  // Row r of a scalar column (String, Int64, Float64, TimestampMs), present.
  int64_t find(const RawColumn& column, int64_t row) const;

 private:
  KeyType type_ = KeyType::Int64;
  int64_t size_ = 0;
  std::unordered_map<int64_t, int64_t> ints_;
  std::unordered_map<uint64_t, int64_t> doubles_;  // by bit pattern, -0.0 folded into 0.0
  std::vector<std::string> strings_;
  std::unordered_map<std::string_view, int64_t> views_;  // views into strings_
};

}  // namespace shoprank
