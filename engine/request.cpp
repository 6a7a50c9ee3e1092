#include "shoprank/request.h"

#include <algorithm>
#include <cstring>
#include <ctime>

#include "shoprank/errors.h"

namespace shoprank {

namespace {

using wire::kLengths;
using wire::kNullRows;

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string text = "[";
  for (size_t i = 0; i < shape.size(); ++i) text += (i ? ", " : "") + std::to_string(shape[i]);
  return text + "]";
}

// The n of a [1, n] tensor: one query per request.
int64_t one_query(const std::string& name, const WireTensor& t) {
  SHOPRANK_EXPECTS(t.shape.size() == 2 && t.shape[0] == 1 && t.shape[1] >= 0, name,
                   ": one query per request, shaped [1, n]; got shape ", shape_text(t.shape));
  return t.shape[1];
}

template <typename T>
std::vector<T> numbers(const std::string& name, const WireTensor& t, WireType type) {
  SHOPRANK_EXPECTS(t.type == type, name, ": wrong data type for this column");
  const int64_t n = one_query(name, t);
  // divided, not multiplied: Triton 2.51 checks n * size in 64 bits, so a shape of 2^61
  // INT64 values with 0 bytes reaches the backend (found by the gRPC fuzz test)
  SHOPRANK_EXPECTS(t.bytes % sizeof(T) == 0 && t.bytes / sizeof(T) == uint64_t(n), name, ": ",
                   t.bytes, " bytes for ", n, " values");
  std::vector<T> out(static_cast<size_t>(n));
  if (n) std::memcpy(out.data(), t.data, t.bytes);
  return out;
}

// Integer timestamps travel as milliseconds since the epoch. Epoch *seconds* (what the ETL
// reads from a log's integer column by default) of any date from 2001 to 5138 fall in
// [1e9, 1e11) and would read as a day in 1970-1973: refused as a unit mistake (as the
// Python entry, ranker/raw.py, does) rather than answered wrong.
std::string utc_day(int64_t seconds) {
  const std::time_t t = static_cast<std::time_t>(seconds);
  std::tm day{};
  char text[32] = "?";
  if (gmtime_r(&t, &day)) std::strftime(text, sizeof text, "%Y-%m-%d", &day);
  return text;
}

void check_milliseconds(const std::string& name, const RawColumn& stamps) {
  for (int64_t row = 0; row < stamps.rows; ++row) {
    if (!stamps.present(row)) continue;
    const int64_t value = stamps.ints[size_t(row)];
    SHOPRANK_EXPECTS(value < 1'000'000'000 || value >= 100'000'000'000, name, ": ", value,
                     " would be ", utc_day(value / 1000), " as milliseconds; it looks like "
                     "seconds since the epoch (", utc_day(value), "). Integer timestamps are "
                     "milliseconds: multiply by 1000");
  }
}

// Strict UTF-8 (no overlong forms, no surrogates, nothing past U+10FFFF), as Python's
// bytes.decode("utf-8") accepts it.
bool is_utf8(const std::string& s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* end = p + s.size();
  while (p < end) {
    const unsigned c = *p;
    int more;
    unsigned low = 0x80, high = 0xBF;  // the range of the first continuation byte
    if (c < 0x80) { ++p; continue; }
    if (c >= 0xC2 && c <= 0xDF) more = 1;
    else if (c >= 0xE0 && c <= 0xEF) {
      more = 2;
      if (c == 0xE0) low = 0xA0;
      if (c == 0xED) high = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      more = 3;
      if (c == 0xF0) low = 0x90;
      if (c == 0xF4) high = 0x8F;
    } else {
      return false;
    }
    if (end - p <= more) return false;
    for (int i = 1; i <= more; ++i) {
      const unsigned b = p[i];
      if (b < (i == 1 ? low : 0x80) || b > (i == 1 ? high : 0xBF)) return false;
    }
    p += more + 1;
  }
  return true;
}

// Triton's BYTES layout: each element a 4-byte little-endian length, then its bytes.
std::vector<std::string> strings(const std::string& name, const WireTensor& t) {
  SHOPRANK_EXPECTS(t.type == WireType::Bytes, name, ": wrong data type for this column");
  const int64_t n = one_query(name, t);
  std::vector<std::string> out;
  out.reserve(static_cast<size_t>(n));
  uint64_t at = 0;
  for (int64_t i = 0; i < n; ++i) {
    uint32_t length = 0;
    SHOPRANK_EXPECTS(t.bytes - at >= sizeof length, name, ": element ", i, " is cut short");
    std::memcpy(&length, t.data + at, sizeof length);
    at += sizeof length;
    SHOPRANK_EXPECTS(t.bytes - at >= length, name, ": element ", i, " is cut short");
    out.emplace_back(t.data + at, length);
    at += length;
    SHOPRANK_EXPECTS(is_utf8(out.back()), name, ": not UTF-8 text (element ", i, ")");
  }
  SHOPRANK_EXPECTS(at == t.bytes, name, ": ", t.bytes - at, " bytes after the last element");
  return out;
}

RawColumn column_of(const std::string& name, InputType type, const WireTensors& tensors) {
  const WireTensor& t = tensors.at(name);
  RawColumn c;
  c.type = type;
  switch (type) {
    case InputType::Int64:
    case InputType::TimestampMs:
      c.ints = numbers<int64_t>(name, t, WireType::Int64);
      c.rows = static_cast<int64_t>(c.ints.size());
      break;
    case InputType::Float64:
      c.floats = numbers<double>(name, t, WireType::Fp64);
      c.rows = static_cast<int64_t>(c.floats.size());
      break;
    case InputType::String:
      c.strings = strings(name, t);
      c.rows = static_cast<int64_t>(c.strings.size());
      break;
    case InputType::StringList: {
      auto lengths = tensors.find(name + kLengths);
      SHOPRANK_EXPECTS(lengths != tensors.end(), name, ": a list column needs ", name, kLengths,
                       " too");
      c.strings = strings(name, t);
      const auto counts = numbers<int64_t>(name + kLengths, lengths->second, WireType::Int64);
      c.offsets.assign(1, 0);
      for (int64_t count : counts) {
        SHOPRANK_EXPECTS(count >= 0 && c.offsets.back() + count <= int64_t(c.strings.size()),
                         name, kLengths, ": the lengths must be >= 0 and add up to the ",
                         c.strings.size(), " elements of ", name);
        c.offsets.push_back(c.offsets.back() + count);
      }
      SHOPRANK_EXPECTS(c.offsets.back() == int64_t(c.strings.size()), name, kLengths,
                       ": the lengths must be >= 0 and add up to the ", c.strings.size(),
                       " elements of ", name);
      c.rows = static_cast<int64_t>(counts.size());
      break;
    }
  }
  auto nulls = tensors.find(name + kNullRows);
  if (nulls != tensors.end()) {
    c.valid.assign(size_t(c.rows), 1);
    for (int64_t row : numbers<int64_t>(name + kNullRows, nulls->second, WireType::Int64)) {
      SHOPRANK_EXPECTS(row >= 0 && row < c.rows, name, kNullRows, ": row ", row, " is not a row "
                       "of ", name, " (", c.rows, " rows)");
      c.valid[size_t(row)] = 0;
    }
  }
  if (type == InputType::TimestampMs) check_milliseconds(name, c);
  return c;
}


// The item key's values where the request sent one per candidate (else the answer names rows).
std::vector<int64_t> item_ids(const RawBatch& batch, const std::string& item_key,
                              int64_t candidates) {
  auto ids = item_key.empty() ? batch.end() : batch.find(item_key);
  if (ids == batch.end() || ids->second.ints.empty() || ids->second.rows != candidates) return {};
  return ids->second.ints;
}

std::vector<std::string> item_texts(const RawBatch& batch, const std::string& item_key,
                                    int64_t candidates) {
  auto ids = item_key.empty() ? batch.end() : batch.find(item_key);
  if (ids == batch.end() || ids->second.type != InputType::String ||
      ids->second.rows != candidates || candidates == 0) {
    return {};
  }
  return ids->second.strings;
}

}  // namespace

RawColumn read_column(const std::string& name, InputType type, const WireTensors& tensors) {
  SHOPRANK_EXPECTS(tensors.count(name), "missing input ", name);
  return column_of(name, type, tensors);
}

std::vector<int64_t> read_int64s(const std::string& name, const WireTensors& tensors) {
  auto found = tensors.find(name);
  SHOPRANK_EXPECTS(found != tensors.end(), "missing input ", name);
  return numbers<int64_t>(name, found->second, WireType::Int64);
}

std::vector<float> read_floats(const std::string& name, const WireTensors& tensors) {
  auto found = tensors.find(name);
  SHOPRANK_EXPECTS(found != tensors.end(), "missing input ", name);
  return numbers<float>(name, found->second, WireType::Fp32);
}

namespace {
template <typename T>
std::optional<T> one_value(const std::string& name, const WireTensors& tensors, WireType type) {
  auto found = tensors.find(name);
  if (found == tensors.end()) return std::nullopt;
  const auto values = numbers<T>(name, found->second, type);
  SHOPRANK_EXPECTS(values.size() == 1, name, ": expected one value, got ", values.size());
  return values[0];
}
}  // namespace

std::optional<int64_t> read_one_int64(const std::string& name, const WireTensors& tensors) {
  return one_value<int64_t>(name, tensors, WireType::Int64);
}

std::optional<float> read_one_float(const std::string& name, const WireTensors& tensors) {
  return one_value<float>(name, tensors, WireType::Fp32);
}

namespace {
int64_t read_k(const WireTensors& tensors, int64_t candidates) {
  const auto k = read_one_int64(wire::kK, tensors);
  SHOPRANK_EXPECTS(k.has_value(), "missing input k (how many items to return)");
  check_k(*k, candidates);
  return *k;
}
}  // namespace

void check_k(int64_t k, int64_t candidates) {
  SHOPRANK_EXPECTS(candidates > 0, "no candidates to rank");
  SHOPRANK_EXPECTS(k >= 1 && k <= candidates,
                   "k must be between 1 and the number of candidates (", candidates, "), got ", k);
}

RankRequest read_request(const RequestRules& rules, const WireTensors& tensors, bool with_k) {
  RankRequest request;
  bool empty = false;  // a column of no rows: no candidates, whatever one-row columns say
  for (const InputSpec& spec : rules.inputs) {
    if (!tensors.count(spec.name)) {
      for (const std::string& part : {kLengths, kNullRows}) {
        SHOPRANK_EXPECTS(!tensors.count(spec.name + part), spec.name, part, " was sent without ",
                         spec.name);
      }
      continue;  // a side table supplies it, or the engine names it missing
    }
    RawColumn column = column_of(spec.name, spec.type, tensors);
    request.candidates = std::max(request.candidates, column.rows);
    empty = empty || column.rows == 0;
    request.batch.emplace(spec.name, std::move(column));
  }
  if (empty) request.candidates = 0;
  SHOPRANK_EXPECTS(!rules.max_candidates || request.candidates <= rules.max_candidates,
                   request.candidates, " candidates in one request; this model takes at most ",
                   rules.max_candidates, " (export-triton --max-candidates)");
  if (with_k) request.k = read_k(tensors, request.candidates);
  request.item_ids = item_ids(request.batch, rules.item_key, request.candidates);
  request.item_texts = item_texts(request.batch, rules.item_key, request.candidates);
  return request;
}

ModelInputs read_features(const std::vector<std::string>& names, const WireTensors& tensors) {
  ModelInputs inputs;
  for (const std::string& name : names) {
    const std::string tensor = wire::kFeature + name;
    auto found = tensors.find(tensor);
    SHOPRANK_EXPECTS(found != tensors.end(), "missing input ", tensor);
    FeatureColumn f;
    f.name = name;
    auto offsets = tensors.find(tensor + wire::kOffsets);
    if (found->second.type == WireType::Fp32) {
      f.categorical = false;
      f.values = numbers<float>(tensor, found->second, WireType::Fp32);
    } else {
      f.ids = numbers<int32_t>(tensor, found->second, WireType::Int32);
    }
    if (offsets != tensors.end()) {
      f.list = true;
      f.offsets = numbers<int64_t>(tensor + wire::kOffsets, offsets->second, WireType::Int64);
      SHOPRANK_EXPECTS(!f.offsets.empty(), tensor, wire::kOffsets, ": no offsets");
    }
    const int64_t rows = f.list ? int64_t(f.offsets.size()) - 1
                                : int64_t(f.categorical ? f.ids.size() : f.values.size());
    SHOPRANK_EXPECTS(inputs.features.empty() || rows == inputs.rows, tensor, ": ", rows,
                     " rows, the others have ", inputs.rows);
    inputs.rows = rows;
    inputs.features.push_back(std::move(f));
  }
  return inputs;
}

ScoredRequest read_scored(const std::string& item_key, const WireTensors& tensors) {
  ScoredRequest request;
  auto scores = tensors.find(wire::kCandidateScores);
  SHOPRANK_EXPECTS(scores != tensors.end(), "missing input ", wire::kCandidateScores);
  request.scores = numbers<float>(wire::kCandidateScores, scores->second, WireType::Fp32);
  const auto candidates = static_cast<int64_t>(request.scores.size());
  request.k = read_k(tensors, candidates);
  auto ids = item_key.empty() ? tensors.end() : tensors.find(item_key);
  if (ids != tensors.end() && one_query(item_key, ids->second) == candidates) {
    if (ids->second.type == WireType::Int64) {
      request.item_ids = numbers<int64_t>(item_key, ids->second, WireType::Int64);
    } else if (ids->second.type == WireType::Bytes) {
      request.item_texts = strings(item_key, ids->second);
    }
  }
  return request;
}


}  // namespace shoprank
