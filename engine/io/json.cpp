#include "shoprank/io/json.h"

#include <cmath>
#include <cstdlib>

#include "shoprank/errors.h"

namespace shoprank::json {

namespace {
const char* kind_name(Value::Kind kind) {
  switch (kind) {
    case Value::Kind::Null: return "null";
    case Value::Kind::Bool: return "a boolean";
    case Value::Kind::Number: return "a number";
    case Value::Kind::String: return "a string";
    case Value::Kind::Array: return "an array";
    case Value::Kind::Object: return "an object";
  }
  return "?";
}
constexpr int kMaxDepth = 64;  // artifact files are shallow; deeper input is malformed
}  // namespace

class Parser {
 public:
  Parser(std::string_view text, const std::string& source) : text_(text), source_(source) {}

  Value document() {
    Value v = value(source_ + ":", 0);
    skip_space();
    if (pos_ != text_.size()) fail("unexpected text after the JSON value");
    return v;
  }

 private:
  std::string_view text_;
  const std::string& source_;
  size_t pos_ = 0;

  [[noreturn]] void fail(const char* what) {
    detail::throw_invalid(source_, ": malformed JSON at byte ", pos_, ": ", what);
  }
  void skip_space() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\n' ||
                                   text_[pos_] == '\r' || text_[pos_] == '\t'))
      ++pos_;
  }
  bool take(char c) {
    skip_space();
    if (pos_ < text_.size() && text_[pos_] == c) { ++pos_; return true; }
    return false;
  }
  void expect(char c, const char* what) { if (!take(c)) fail(what); }
  bool word(std::string_view w) {
    if (text_.substr(pos_, w.size()) == w) { pos_ += w.size(); return true; }
    return false;
  }

  Value value(const std::string& path, int depth) {
    if (depth > kMaxDepth) fail("nested too deeply");
    skip_space();
    if (pos_ >= text_.size()) fail("unexpected end of input");
    Value v;
    v.path_ = path;
    const char c = text_[pos_];
    if (c == '{') {
      ++pos_;
      v.kind_ = Value::Kind::Object;
      if (take('}')) return v;
      do {
        skip_space();
        if (pos_ >= text_.size() || text_[pos_] != '"') fail("expected a string key");
        std::string key = string();
        expect(':', "expected ':' after a key");
        v.object_.emplace_back(key, value(path + (depth ? "." : "") + key, depth + 1));
      } while (take(','));
      expect('}', "expected ',' or '}' in an object");
    } else if (c == '[') {
      ++pos_;
      v.kind_ = Value::Kind::Array;
      if (take(']')) return v;
      do {
        v.array_.push_back(value(path + "[" + std::to_string(v.array_.size()) + "]", depth + 1));
      } while (take(','));
      expect(']', "expected ',' or ']' in an array");
    } else if (c == '"') {
      v.kind_ = Value::Kind::String;
      v.string_ = string();
    } else if (word("true")) {
      v.kind_ = Value::Kind::Bool;
      v.bool_ = true;
    } else if (word("false")) {
      v.kind_ = Value::Kind::Bool;
    } else if (word("null")) {
      v.kind_ = Value::Kind::Null;
    } else if (word("NaN")) {  // Python's json writes these for non-finite floats
      v.kind_ = Value::Kind::Number;
      v.number_ = std::nan("");
    } else if (word("Infinity")) {
      v.kind_ = Value::Kind::Number;
      v.number_ = HUGE_VAL;
    } else if (word("-Infinity")) {
      v.kind_ = Value::Kind::Number;
      v.number_ = -HUGE_VAL;
    } else {
      v.kind_ = Value::Kind::Number;
      v.number_ = number();
    }
    return v;
  }

  double number() {
    const size_t start = pos_;
    while (pos_ < text_.size() && (std::isdigit(static_cast<unsigned char>(text_[pos_])) ||
                                   text_[pos_] == '-' || text_[pos_] == '+' ||
                                   text_[pos_] == '.' || text_[pos_] == 'e' || text_[pos_] == 'E'))
      ++pos_;
    if (start == pos_) fail("expected a value");
    const std::string digits(text_.substr(start, pos_ - start));
    char* end = nullptr;
    const double d = std::strtod(digits.c_str(), &end);
    if (end != digits.c_str() + digits.size()) fail("malformed number");
    return d;
  }

  unsigned hex4() {
    if (pos_ + 4 > text_.size()) fail("truncated \\u escape");
    unsigned code = 0;
    for (int i = 0; i < 4; ++i) {
      const char h = text_[pos_++];
      code <<= 4;
      if (h >= '0' && h <= '9') code |= h - '0';
      else if (h >= 'a' && h <= 'f') code |= h - 'a' + 10;
      else if (h >= 'A' && h <= 'F') code |= h - 'A' + 10;
      else fail("bad \\u escape");
    }
    return code;
  }

  static void append_utf8(std::string& out, unsigned code) {
    if (code < 0x80) {
      out += static_cast<char>(code);
    } else if (code < 0x800) {
      out += static_cast<char>(0xC0 | (code >> 6));
      out += static_cast<char>(0x80 | (code & 0x3F));
    } else if (code < 0x10000) {
      out += static_cast<char>(0xE0 | (code >> 12));
      out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (code & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (code >> 18));
      out += static_cast<char>(0x80 | ((code >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (code & 0x3F));
    }
  }

  std::string string() {
    ++pos_;  // the opening quote
    std::string out;
    while (true) {
      if (pos_ >= text_.size()) fail("unterminated string");
      const char c = text_[pos_++];
      if (c == '"') return out;
      if (static_cast<unsigned char>(c) < 0x20) fail("control character in a string");
      if (c != '\\') { out += c; continue; }
      if (pos_ >= text_.size()) fail("unterminated escape");
      switch (const char e = text_[pos_++]) {
        case '"': case '\\': case '/': out += e; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          unsigned code = hex4();
          if (code >= 0xD800 && code < 0xDC00) {  // a surrogate pair
            if (!word("\\u")) fail("lone surrogate in \\u escape");
            const unsigned low = hex4();
            if (low < 0xDC00 || low >= 0xE000) fail("bad surrogate pair");
            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
          }
          append_utf8(out, code);
          break;
        }
        default: fail("unknown escape");
      }
    }
  }
};

Value Value::parse(std::string_view text, const std::string& source) {
  return Parser(text, source).document();
}

void Value::wrong_kind(const char* expected) const {
  detail::throw_invalid(path_, ": expected ", expected, ", found ", kind_name(kind_));
}

bool Value::has(const std::string& key) const {
  if (kind_ != Kind::Object) return false;
  for (const auto& [k, v] : object_)
    if (k == key) return true;
  return false;
}

const Value& Value::operator[](const std::string& key) const {
  if (kind_ != Kind::Object) wrong_kind("an object");
  for (const auto& [k, v] : object_)
    if (k == key) return v;
  detail::throw_invalid(path_, ": missing key \"", key, "\"");
}

const Value& Value::at(size_t index) const {
  if (kind_ != Kind::Array) wrong_kind("an array");
  SHOPRANK_EXPECTS(index < array_.size(), path_, ": index ", index, " out of range");
  return array_[index];
}

size_t Value::size() const {
  if (kind_ == Kind::Array) return array_.size();
  if (kind_ == Kind::Object) return object_.size();
  wrong_kind("an array or object");
}

bool Value::as_bool() const {
  if (kind_ != Kind::Bool) wrong_kind("a boolean");
  return bool_;
}

double Value::as_double() const {
  if (kind_ != Kind::Number) wrong_kind("a number");
  return number_;
}

int64_t Value::as_int() const {
  const double d = as_double();
  SHOPRANK_EXPECTS(std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9.007199254740992e15,
                   path_, ": expected an integer, found ", d);
  return static_cast<int64_t>(d);
}

const std::string& Value::as_string() const {
  if (kind_ != Kind::String) wrong_kind("a string");
  return string_;
}

const std::vector<Value>& Value::items() const {
  if (kind_ != Kind::Array) wrong_kind("an array");
  return array_;
}

const std::vector<std::pair<std::string, Value>>& Value::members() const {
  if (kind_ != Kind::Object) wrong_kind("an object");
  return object_;
}

}  // namespace shoprank::json
