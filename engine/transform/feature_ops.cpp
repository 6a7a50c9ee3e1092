#include "feature_ops.h"

#include <cmath>
#include <cstring>
#include <limits>

#include "shoprank/errors.h"
#include "shoprank/transform/key_index.h"

namespace shoprank {

namespace {

constexpr int64_t kMsPerHour = 3'600'000, kMsPerDay = 86'400'000;
constexpr int64_t kEpochWeekday = 3;  // 1970-01-01 was a Thursday; Monday is 0

int64_t floor_div(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }
int64_t floor_mod(int64_t a, int64_t b) { return a - floor_div(a, b) * b; }

// A continuous post-processing chain: float32 arithmetic, as NVTabular does it.
struct Step {
  enum Kind { FillMissing, Clip, LogPlusOne, Normalize } kind = FillMissing;
  float value = 0, min = 0, max = 0, mean = 0, std = 0;
  bool has_min = false, has_max = false, divide = false;
};

std::vector<Step> parse_steps(const json::Value& feature) {
  std::vector<Step> steps;
  if (!feature.has("steps")) return steps;
  for (const auto& s : feature["steps"].items()) {
    Step step;
    const std::string& op = s["op"].as_string();
    if (op == "fill_missing") {
      step.kind = Step::FillMissing;
      step.value = static_cast<float>(s["value"].as_double());
    } else if (op == "clip") {
      step.kind = Step::Clip;
      step.has_min = !s["min"].is_null();
      step.has_max = !s["max"].is_null();
      if (step.has_min) step.min = static_cast<float>(s["min"].as_double());
      if (step.has_max) step.max = static_cast<float>(s["max"].as_double());
    } else if (op == "log_plus_one") {
      step.kind = Step::LogPlusOne;
    } else if (op == "normalize") {
      step.kind = Step::Normalize;
      step.mean = static_cast<float>(s["mean"].as_double());
      step.divide = !s["std"].is_null() && s["std"].as_double() > 0;
      if (step.divide) step.std = static_cast<float>(s["std"].as_double());
    } else {
      detail::throw_invalid(s["op"].path(), ": unknown continuous step \"", op, "\"");
    }
    steps.push_back(step);
  }
  return steps;
}

float apply_steps(const std::vector<Step>& steps, float x) {
  for (const Step& s : steps) {
    switch (s.kind) {
      case Step::FillMissing: if (std::isnan(x)) x = s.value; break;
      case Step::Clip:
        if (s.has_min && x < s.min) x = s.min;
        if (s.has_max && x > s.max) x = s.max;
        break;
      case Step::LogPlusOne: x = std::log(x + 1.0f); break;
      case Step::Normalize:
        x = x - s.mean;
        if (s.divide) x = x / s.std;
        break;
    }
  }
  return x;
}

int32_t id_at(const json::Value& f, const char* key) { return static_cast<int32_t>(f[key].as_int()); }

// Key -> id tables of Categorify (keys plus their ids).
struct IdTable {
  KeyIndex keys;
  const int32_t* ids = nullptr;
  int32_t null_id = 1, unseen_id = 2;

  IdTable(const json::Value& f, const TensorFile& tensors, const std::string& where)
      : keys(tensors, f["keys"].as_string(), f["key_type"].as_string(), where),
        null_id(id_at(f, "null_id")), unseen_id(id_at(f, "unseen_id")) {
    auto [data, n] = tensors.vector<int32_t>(f["ids"].as_string());
    SHOPRANK_EXPECTS(n == keys.size(), where, ": ", n, " ids for ", keys.size(), " keys");
    ids = data;
  }
  int32_t id(int64_t position) const { return position < 0 ? unseen_id : ids[position]; }
};

class Categorify final : public FeatureOp {
 public:
  Categorify(const json::Value& f, const TensorFile& t, const std::string& where) : table_(f, t, where) {}
  void append(const std::vector<const RawColumn*>& in, int64_t r, FeatureColumn& out) const override {
    const RawColumn& c = *in[0];
    const int64_t row = source_row(c, r);
    out.ids.push_back(c.present(row) ? table_.id(table_.keys.find(c, row)) : table_.null_id);
  }
 private:
  IdTable table_;
};

class CategorifyList final : public FeatureOp {
 public:
  CategorifyList(const json::Value& f, const TensorFile& t, const std::string& where)
      : table_(f, t, where), null_element_(id_at(f, "null_element_id")) {
    SHOPRANK_EXPECTS(f["null_list"].as_string() == "empty", where, ": null_list must be \"empty\"");
  }
  void append(const std::vector<const RawColumn*>& in, int64_t r, FeatureColumn& out) const override {
    const RawColumn& c = *in[0];
    const int64_t row = source_row(c, r);
    if (c.present(row)) {  // a null list gives no ids
      for (int64_t e = c.offsets[row]; e < c.offsets[row + 1]; ++e) {
        out.ids.push_back(c.element_present(e)
                              ? table_.id(table_.keys.find_string(c.strings[e])) : null_element_);
      }
    }
    out.offsets.push_back(static_cast<int64_t>(out.ids.size()));
  }
 private:
  IdTable table_;
  int32_t null_element_;
};

// The text a crossed or hashed value is known by: int64 in decimal, strings as they are.
void append_text(const RawColumn& c, int64_t row, std::string& text) {
  if (c.type == InputType::String) text += c.strings[row];
  else text += std::to_string(c.ints[row]);
}

class CrossCategorify final : public FeatureOp {
 public:
  CrossCategorify(const json::Value& f, const TensorFile& t, const std::string& where)
      : table_(f, t, where), separator_(f["separator"].as_string()) {}
  void append(const std::vector<const RawColumn*>& in, int64_t r, FeatureColumn& out) const override {
    std::string text;
    for (size_t p = 0; p < in.size(); ++p) {
      const int64_t row = source_row(*in[p], r);
      if (!in[p]->present(row)) {
        out.ids.push_back(table_.null_id);
        return;
      }
      if (p) text += separator_;
      append_text(*in[p], row, text);
    }
    out.ids.push_back(table_.id(table_.keys.find_string(text)));
  }
 private:
  IdTable table_;
  std::string separator_;
};

class TimeCategorify final : public FeatureOp {
 public:
  TimeCategorify(const json::Value& f, const TensorFile& t, const std::string& where)
      : table_(f, t, where), hour_(f["part"].as_string() == "hour") {
    SHOPRANK_EXPECTS(hour_ || f["part"].as_string() == "weekday", where, ": unknown time part \"",
                     f["part"].as_string(), "\"");
  }
  void append(const std::vector<const RawColumn*>& in, int64_t r, FeatureColumn& out) const override {
    const RawColumn& c = *in[0];
    const int64_t row = source_row(c, r);
    if (!c.present(row)) {
      out.ids.push_back(table_.null_id);
      return;
    }
    const int64_t ms = c.ints[row];
    const int64_t part = hour_ ? floor_mod(floor_div(ms, kMsPerHour), 24)
                               : floor_mod(floor_div(ms, kMsPerDay) + kEpochWeekday, 7);
    out.ids.push_back(table_.id(table_.keys.find_int(part)));
  }
 private:
  IdTable table_;
  bool hour_;
};

class HashBucket final : public FeatureOp {
 public:
  explicit HashBucket(const json::Value& f) : buckets_(static_cast<uint64_t>(f["num_buckets"].as_int())) {
    SHOPRANK_EXPECTS(buckets_ > 0, f["num_buckets"].path(), ": must be > 0");
  }
  void append(const std::vector<const RawColumn*>& in, int64_t r, FeatureColumn& out) const override {
    const RawColumn& c = *in[0];
    const int64_t row = source_row(c, r);
    uint64_t hash = std::numeric_limits<uint64_t>::max();  // pandas' hash of a null
    if (c.present(row)) {
      std::string text;
      append_text(c, row, text);
      hash = pandas_text_hash(text);
    }
    out.ids.push_back(static_cast<int32_t>(hash % buckets_));
  }
 private:
  uint64_t buckets_;
};

// Continuous features: a raw number, a count or a target encoding, then the steps.
class Continuous final : public FeatureOp {
 public:
  explicit Continuous(const json::Value& f) : steps_(parse_steps(f)) {}
  void append(const std::vector<const RawColumn*>& in, int64_t r, FeatureColumn& out) const override {
    const RawColumn& c = *in[0];
    const int64_t row = source_row(c, r);
    float x = std::numeric_limits<float>::quiet_NaN();
    if (c.present(row)) {
      x = static_cast<float>(c.type == InputType::Float64 ? c.floats[row] : double(c.ints[row]));
    }
    out.values.push_back(apply_steps(steps_, x));
  }
 private:
  std::vector<Step> steps_;
};

// A fitted statistic per key (value_count: the key's count in training; target_encoding:
// its smoothed click rate), a value for absent and for null keys, then the steps.
class KeyedStatistic final : public FeatureOp {
 public:
  KeyedStatistic(const json::Value& f, const TensorFile& t, const std::string& where)
      : keys_(t, f["keys"].as_string(), f["key_type"].as_string(), where), steps_(parse_steps(f)) {
    if (f["op"].as_string() == "value_count") {
      auto [counts, n] = t.vector<int64_t>(f["counts"].as_string());
      values_.assign(counts, counts + n);  // float32, as NVTabular's LogOp reads them
      absent_ = static_cast<float>(f["unseen_count"].as_int());
      null_ = static_cast<float>(f["null_count"].as_int());
    } else {
      auto [values, n] = t.vector<float>(f["values"].as_string());
      values_.assign(values, values + n);
      absent_ = static_cast<float>(f["default"].as_double());
      null_ = static_cast<float>(f["null_value"].as_double());
    }
    SHOPRANK_EXPECTS(int64_t(values_.size()) == keys_.size(), where, ": ", values_.size(),
                     " values for ", keys_.size(), " keys");
  }
  void append(const std::vector<const RawColumn*>& in, int64_t r, FeatureColumn& out) const override {
    const RawColumn& c = *in[0];
    const int64_t row = source_row(c, r);
    float x = null_;
    if (c.present(row)) {
      const int64_t at = keys_.find(c, row);
      x = at < 0 ? absent_ : values_[at];
    }
    out.values.push_back(apply_steps(steps_, x));
  }
 private:
  KeyIndex keys_;
  std::vector<float> values_;
  float absent_ = 0, null_ = 0;
  std::vector<Step> steps_;
};

uint64_t rotl(uint64_t x, int b) { return (x << b) | (x >> (64 - b)); }

void sip_rounds(uint64_t& v0, uint64_t& v1, uint64_t& v2, uint64_t& v3, int n) {
  for (int i = 0; i < n; ++i) {
    v0 += v1; v1 = rotl(v1, 13) ^ v0; v0 = rotl(v0, 32);
    v2 += v3; v3 = rotl(v3, 16) ^ v2;
    v0 += v3; v3 = rotl(v3, 21) ^ v0;
    v2 += v1; v1 = rotl(v1, 17) ^ v2; v2 = rotl(v2, 32);
  }
}

uint64_t load_le(const unsigned char* p, size_t n) {
  uint64_t v = 0;
  for (size_t i = 0; i < n; ++i) v |= uint64_t(p[i]) << (8 * i);
  return v;
}

}  // namespace

uint64_t pandas_text_hash(std::string_view text) {
  static const unsigned char key[] = "0123456789123456";
  const uint64_t k0 = load_le(key, 8), k1 = load_le(key + 8, 8);
  uint64_t v0 = 0x736F6D6570736575ULL ^ k0, v1 = 0x646F72616E646F6DULL ^ k1;
  uint64_t v2 = 0x6C7967656E657261ULL ^ k0, v3 = 0x7465646279746573ULL ^ k1;
  const auto* data = reinterpret_cast<const unsigned char*>(text.data());
  const size_t whole = text.size() - text.size() % 8;
  for (size_t i = 0; i < whole; i += 8) {
    const uint64_t m = load_le(data + i, 8);
    v3 ^= m;
    sip_rounds(v0, v1, v2, v3, 2);
    v0 ^= m;
  }
  const uint64_t b = (uint64_t(text.size() & 0xFF) << 56) | load_le(data + whole, text.size() - whole);
  v3 ^= b;
  sip_rounds(v0, v1, v2, v3, 2);
  v0 ^= b;
  v2 ^= 0xFF;
  sip_rounds(v0, v1, v2, v3, 4);
  uint64_t x = v0 ^ v1 ^ v2 ^ v3;
  x ^= x >> 30; x *= 0xBF58476D1CE4E5B9ULL;  // pandas' mixer
  x ^= x >> 27; x *= 0x94D049BB133111EBULL;
  x ^= x >> 31;
  return x;
}

std::unique_ptr<FeatureOp> make_feature_op(const json::Value& f, const TensorFile& tensors,
                                           const std::map<std::string, InputType>& types) {
  const std::string name = f["name"].as_string();
  const std::string op = f["op"].as_string();
  const std::string where = "feature \"" + name + "\" (" + op + ")";
  std::unique_ptr<FeatureOp> out;
  std::vector<std::vector<InputType>> allowed;  // per input
  const std::vector<InputType> scalar = {InputType::Int64, InputType::Float64, InputType::String,
                                         InputType::TimestampMs};
  const std::vector<InputType> number = {InputType::Int64, InputType::Float64};
  const std::vector<InputType> text_part = {InputType::Int64, InputType::String};
  if (op == "categorify") {
    out = std::make_unique<Categorify>(f, tensors, where);
    allowed = {scalar};
  } else if (op == "categorify_list") {
    out = std::make_unique<CategorifyList>(f, tensors, where);
    out->list = true;
    allowed = {{InputType::StringList}};
  } else if (op == "cross_categorify") {
    out = std::make_unique<CrossCategorify>(f, tensors, where);
    allowed.assign(f["inputs"].size(), text_part);
  } else if (op == "time_categorify") {
    out = std::make_unique<TimeCategorify>(f, tensors, where);
    allowed = {{InputType::TimestampMs}};
  } else if (op == "hash_bucket") {
    out = std::make_unique<HashBucket>(f);
    allowed = {text_part};
  } else if (op == "continuous") {
    out = std::make_unique<Continuous>(f);
    allowed = {number};
  } else if (op == "value_count" || op == "target_encoding") {
    out = std::make_unique<KeyedStatistic>(f, tensors, where);
    allowed = {scalar};
  } else {
    detail::throw_invalid(where, ": unknown operator");
  }
  out->name = name;
  out->categorical = f["kind"].as_string() == "categorical";
  SHOPRANK_EXPECTS(out->categorical == (op != "continuous" && op != "value_count" &&
                                        op != "target_encoding"),
                   where, ": kind \"", f["kind"].as_string(), "\" does not fit the operator");
  SHOPRANK_EXPECTS(f["inputs"].size() == allowed.size(), where, ": expected ", allowed.size(),
                   " inputs, the spec lists ", f["inputs"].size());
  for (size_t i = 0; i < allowed.size(); ++i) {
    const std::string input = f["inputs"].at(i).as_string();
    auto it = types.find(input);
    SHOPRANK_EXPECTS(it != types.end(), where, ": reads \"", input, "\", which is not an input");
    bool ok = false;
    for (InputType t : allowed[i]) ok = ok || t == it->second;
    SHOPRANK_EXPECTS(ok, where, ": cannot read the ", input_type_name(it->second), " input \"",
                     input, "\"");
    out->inputs.push_back(input);
    out->input_types.push_back(it->second);
  }
  return out;
}

}  // namespace shoprank
