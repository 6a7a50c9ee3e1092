// A small JSON reader for the engine's artifact files: values, objects, arrays, strings
// (with \u escapes), numbers, true/false/null. Errors name the file and the byte offset.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace shoprank::json {

class Value {
 public:
  enum class Kind { Null, Bool, Number, String, Array, Object };

  Value() = default;
  static Value parse(std::string_view text, const std::string& source);

  Kind kind() const { return kind_; }
  bool is_null() const { return kind_ == Kind::Null; }
  bool has(const std::string& key) const;

  // Typed access; each throws std::invalid_argument naming the path when the value has
  // another kind or the key is missing.
  const Value& operator[](const std::string& key) const;
  const Value& at(size_t index) const;
  size_t size() const;  // array length or object size
  bool as_bool() const;
  double as_double() const;
  int64_t as_int() const;  // a number that must be integral
  const std::string& as_string() const;
  const std::vector<Value>& items() const;                  // array
  const std::vector<std::pair<std::string, Value>>& members() const;  // object, file order
  const std::string& path() const { return path_; }

 private:
  friend class Parser;
  Kind kind_ = Kind::Null;
  bool bool_ = false;
  double number_ = 0;
  std::string string_;
  std::vector<Value> array_;
  std::vector<std::pair<std::string, Value>> object_;
  std::string path_;  // e.g. ranker.json:features[3].name, for error messages
  [[noreturn]] void wrong_kind(const char* expected) const;
};

}  // namespace shoprank::json
