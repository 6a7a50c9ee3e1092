#include "shoprank/online/click_match.h"

#include <algorithm>
#include <cstdlib>

#include "shoprank/errors.h"

namespace shoprank {

namespace {

bool same(const RawColumn& c, int64_t a, int64_t b) {
  if (a < 0 || b < 0 || !c.present(a) || !c.present(b)) return false;
  switch (c.type) {
    case InputType::Int64:
    case InputType::TimestampMs: return c.ints[a] == c.ints[b];
    case InputType::Float64: return c.floats[a] == c.floats[b];
    case InputType::String: return c.strings[a] == c.strings[b];
    case InputType::StringList: return false;  // refused at load
  }
  return false;
}

// The recent clicks' items as a key column of the items table's key type (text that is
// not an integer where the key is one: a null, found nowhere).
RawColumn clicked_items(const RawColumn& recent, InputType key_type) {
  RawColumn keys;
  keys.type = key_type == InputType::String ? InputType::String : InputType::Int64;
  keys.rows = static_cast<int64_t>(recent.strings.size());
  keys.valid.assign(recent.strings.size(), 1);
  for (size_t e = 0; e < recent.strings.size(); ++e) {
    const std::string& text = recent.strings[e];
    if (!recent.element_present(int64_t(e))) keys.valid[e] = 0;
    if (keys.type == InputType::String) {
      keys.strings.push_back(text);
      continue;
    }
    char* end = nullptr;
    const long long value = std::strtoll(text.c_str(), &end, 10);
    if (text.empty() || *end != '\0') keys.valid[e] = 0;
    keys.ints.push_back(value);
  }
  return keys;
}

}  // namespace

void check_click_match(const RealtimeSpec& spec, const SideTable* items) {
  if (spec.match.empty()) return;
  SHOPRANK_EXPECTS(items != nullptr, "realtime.match: no side table keyed by ", spec.item,
                   " to read the items' columns from");
  for (const auto& name : spec.match) {
    auto it = items->columns.find(name);
    SHOPRANK_EXPECTS(it != items->columns.end(), "realtime.match: the ", items->name,
                     " table has no column \"", name, "\"");
    SHOPRANK_EXPECTS(it->second.type != InputType::StringList, "realtime.match: column \"",
                     name, "\" is a list; match columns hold one value per item");
  }
}

void fill_click_matches(RawBatch& batch, const std::string& item,
                        const std::vector<std::string>& match, const SideTable& items) {
  auto recent_it = batch.find(realtime::kRecentClicks);
  auto item_it = batch.find(item);
  for (const auto& name : match) {
    const std::string column_name = realtime::match_column(name);
    if (batch.count(column_name)) continue;
    const int64_t rows = joint_rows(recent_it == batch.end() ? 1 : recent_it->second.rows,
                                    item_it == batch.end() ? 1 : item_it->second.rows);
    RawColumn counts;
    counts.type = InputType::Float64;
    counts.rows = rows;
    counts.floats.assign(size_t(rows), 0.0);
    if (recent_it != batch.end() && item_it != batch.end()) {
      const RawColumn& recent = recent_it->second;
      check_column(realtime::kRecentClicks, recent);
      const RawColumn& values = items.columns.at(name);
      const std::vector<int64_t> clicked = items.rows_of(clicked_items(recent, item_it->second.type));
      const std::vector<int64_t> candidate = items.rows_of(item_it->second);
      for (int64_t r = 0; r < rows; ++r) {
        const int64_t own = candidate[size_t(source_row(item_it->second, r))];
        const int64_t list = source_row(recent, r);
        int64_t n = 0;
        for (int64_t e = recent.offsets[list]; e < recent.offsets[list + 1]; ++e) {
          n += same(values, clicked[size_t(e)], own);
        }
        counts.floats[size_t(r)] = double(n);
      }
    }
    batch.emplace(column_name, std::move(counts));
  }
}

}  // namespace shoprank
