#include "shoprank/online/online_state.h"

#include <algorithm>
#include <deque>
#include <limits>
#include <list>
#include <mutex>
#include <shared_mutex>
#include <unordered_map>
#include <utility>

#include "shoprank/errors.h"

namespace shoprank {

namespace realtime {
const std::vector<std::string>& column_names() {
  static const std::vector<std::string> names{kRecentClicks, kUserImpressions, kUserClicks,
                                              kItemImpressions, kItemClicks};
  return names;
}
}  // namespace realtime

RealtimeSpec RealtimeSpec::from_json(const json::Value& s) {
  RealtimeSpec spec;
  spec.user = s["user"].as_string();
  spec.item = s["item"].as_string();
  spec.timestamp = s["timestamp"].as_string();
  spec.label = s["label"].as_string();
  spec.recent_clicks = s["recent_clicks"].as_int();
  spec.window_ms = s["window_ms"].as_int();
  if (s.has("max_keys")) spec.max_keys = s["max_keys"].as_int();
  if (s.has("max_events_per_key")) spec.max_events_per_key = s["max_events_per_key"].as_int();
  if (s.has("match")) {
    for (const auto& column : s["match"].items()) spec.match.push_back(column.as_string());
  }
  SHOPRANK_EXPECTS(spec.recent_clicks >= 1, s["recent_clicks"].path(), ": must be >= 1");
  SHOPRANK_EXPECTS(spec.window_ms >= 1, s["window_ms"].path(), ": must be >= 1");
  SHOPRANK_EXPECTS(spec.max_keys >= 1 && spec.max_events_per_key >= 1, s.path(),
                   ": max_keys and max_events_per_key must be >= 1");
  return spec;
}

std::string key_text(const RawColumn& column, int64_t row) {
  return column.type == InputType::String ? column.strings[row]
                                          : std::to_string(column.ints[row]);
}

namespace {

struct Counts {
  int64_t impressions = 0, clicks = 0;
};

// One key's events inside the window, in time order (ties: arrival order), with a running
// click count so that a time range's counts take two binary searches.
class Events {
 public:
  void add(int64_t t, bool click, int64_t window, int64_t cap) {
    const auto at = std::upper_bound(times_.begin(), times_.end(), t) - times_.begin();
    const int64_t before = clicks_before(at);
    times_.insert(times_.begin() + at, t);
    clicks_upto_.insert(clicks_upto_.begin() + at, before + click);
    if (click) {  // an event older than the newest: the later running counts move up
      for (size_t j = size_t(at) + 1; j < clicks_upto_.size(); ++j) ++clicks_upto_[j];
    }
    newest_ = std::max(newest_, t);
    while (!times_.empty() &&
           (times_.front() < newest_ - window || int64_t(times_.size()) > cap)) {
      base_ = clicks_upto_.front();
      times_.pop_front();
      clicks_upto_.pop_front();
    }
  }
  Counts between(int64_t from, int64_t to) const {  // [from, to)
    const auto lo = std::lower_bound(times_.begin(), times_.end(), from) - times_.begin();
    const auto hi = std::lower_bound(times_.begin(), times_.end(), to) - times_.begin();
    if (hi <= lo) return {};
    return {hi - lo, clicks_before(hi) - clicks_before(lo)};
  }
  size_t size() const { return times_.size(); }

 private:
  std::deque<int64_t> times_, clicks_upto_;  // clicks among events up to and including i
  int64_t base_ = 0;                         // ... and before the first one held
  int64_t newest_ = std::numeric_limits<int64_t>::min();
  int64_t clicks_before(int64_t i) const { return i > 0 ? clicks_upto_[size_t(i - 1)] : base_; }
};

struct UserState {
  Events events;
  std::deque<std::pair<int64_t, std::string>> clicked;  // (time, item), oldest first
};

// Keys to values, evicting the least recently written key beyond `limit`.
template <typename Value>
class Bounded {
 public:
  Value& touch(const std::string& key, int64_t limit) {
    auto it = map_.find(key);
    if (it != map_.end()) {
      order_.splice(order_.begin(), order_, it->second.second);
      return it->second.first;
    }
    order_.push_front(key);
    auto& slot = map_[key];
    slot.second = order_.begin();
    while (int64_t(map_.size()) > limit) {
      map_.erase(order_.back());
      order_.pop_back();
    }
    return slot.first;
  }
  const Value* find(const std::string& key) const {
    auto it = map_.find(key);
    return it == map_.end() ? nullptr : &it->second.first;
  }
  int64_t size() const { return int64_t(map_.size()); }

 private:
  std::list<std::string> order_;  // most recent first
  std::unordered_map<std::string, std::pair<Value, std::list<std::string>::iterator>> map_;
};

const RawColumn* find_column(const RawBatch& batch, const std::string& name) {
  auto it = batch.find(name);
  return it == batch.end() ? nullptr : &it->second;
}

void expect_type(const RawColumn* c, const std::string& name, std::initializer_list<InputType> ok) {
  if (c == nullptr) return;
  check_column(name, *c);
  std::string names;
  for (InputType t : ok) {
    if (c->type == t) return;
    names += (names.empty() ? "" : " or ") + std::string(input_type_name(t));
  }
  detail::throw_invalid("column \"", name, "\": expected ", names, " values, got ",
                        input_type_name(c->type));
}

RawColumn counts_column(int64_t rows) {
  RawColumn c;
  c.type = InputType::Float64;
  c.rows = rows;
  c.floats.assign(size_t(rows), 0.0);
  return c;
}

}  // namespace

struct OnlineState::Impl {
  mutable std::shared_mutex mutex;
  Bounded<UserState> users;
  Bounded<Events> items;
  int64_t events = 0;
};

OnlineState::OnlineState(RealtimeSpec spec) : spec_(std::move(spec)), impl_(new Impl) {}
OnlineState::~OnlineState() = default;

int64_t OnlineState::observe(const RawBatch& batch) {
  const auto& s = spec_;
  for (const auto* name : {&s.user, &s.item, &s.timestamp, &s.label}) {
    SHOPRANK_EXPECTS(batch.count(*name), "events: missing column \"", *name,
                     "\" (events carry ", s.user, ", ", s.item, ", ", s.timestamp, " and ",
                     s.label, ")");
  }
  const RawColumn& user = batch.at(s.user);
  const RawColumn& item = batch.at(s.item);
  const RawColumn& time = batch.at(s.timestamp);
  const RawColumn& label = batch.at(s.label);
  expect_type(&user, s.user, {InputType::Int64, InputType::String});
  expect_type(&item, s.item, {InputType::Int64, InputType::String});
  expect_type(&time, s.timestamp, {InputType::TimestampMs, InputType::Int64});
  expect_type(&label, s.label, {InputType::Int64, InputType::Float64});
  const int64_t rows = batch_rows(batch, {s.user, s.item, s.timestamp, s.label});
  for (int64_t r = 0; r < rows; ++r) {
    SHOPRANK_EXPECTS(time.present(source_row(time, r)), "events: column \"", s.timestamp,
                     "\" is null at row ", r, " (every event needs its time)");
  }

  std::unique_lock lock(impl_->mutex);
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t t = time.ints[source_row(time, r)];
    const int64_t lr = source_row(label, r);
    const bool click = label.present(lr) &&
                       (label.type == InputType::Int64 ? label.ints[lr] > 0 : label.floats[lr] > 0);
    if (!item.present(source_row(item, r)) || !user.present(source_row(user, r))) continue;
    const std::string item_key = key_text(item, source_row(item, r));
    impl_->items.touch(item_key, s.max_keys).add(t, click, s.window_ms, s.max_events_per_key);
    {
      UserState& u = impl_->users.touch(key_text(user, source_row(user, r)), s.max_keys);
      u.events.add(t, click, s.window_ms, s.max_events_per_key);
      if (click) {
        auto at = std::upper_bound(u.clicked.begin(), u.clicked.end(), t,
                                   [](int64_t v, const auto& e) { return v < e.first; });
        u.clicked.insert(at, {t, item_key});
        // the last N, plus those sharing the newest time: a request at exactly that time
        // sees the N before it
        const int64_t newest = u.clicked.back().first;
        int64_t ties = 0;
        for (auto it = u.clicked.rbegin(); it != u.clicked.rend() && it->first == newest; ++it) {
          ++ties;
        }
        while (int64_t(u.clicked.size()) > s.recent_clicks + ties) u.clicked.pop_front();
      }
    }
  }
  impl_->events += rows;
  return rows;
}

void OnlineState::fill(RawBatch& batch, int64_t now_ms) const {
  const auto& s = spec_;
  const auto& names = realtime::column_names();
  if (std::all_of(names.begin(), names.end(), [&](const auto& n) { return batch.count(n); })) {
    return;
  }
  const RawColumn* user = find_column(batch, s.user);
  const RawColumn* item = find_column(batch, s.item);
  const RawColumn* time = find_column(batch, s.timestamp);
  expect_type(user, s.user, {InputType::Int64, InputType::String});
  expect_type(item, s.item, {InputType::Int64, InputType::String});
  expect_type(time, s.timestamp, {InputType::TimestampMs, InputType::Int64});
  auto rows_of = [](const RawColumn* c) { return c ? c->rows : int64_t(1); };
  const int64_t user_rows = joint_rows(rows_of(user), rows_of(time));
  const int64_t item_rows = joint_rows(rows_of(item), rows_of(time));
  auto now = [&](int64_t r) {
    if (time == nullptr) return now_ms;
    const int64_t tr = source_row(*time, r);
    SHOPRANK_EXPECTS(time->present(tr), "column \"", s.timestamp, "\" is null at row ", r,
                     " (the real-time features are as of each row's time)");
    return time->ints[tr];
  };

  RawColumn recent;
  recent.type = InputType::StringList;
  recent.rows = user_rows;
  recent.offsets.assign(1, 0);
  RawColumn user_impressions = counts_column(user_rows), user_clicks = counts_column(user_rows);
  RawColumn item_impressions = counts_column(item_rows), item_clicks = counts_column(item_rows);

  std::shared_lock lock(impl_->mutex);
  for (int64_t r = 0; r < user_rows; ++r) {
    const int64_t t = now(r);
    const UserState* u = nullptr;
    if (user && user->present(source_row(*user, r))) {
      u = impl_->users.find(key_text(*user, source_row(*user, r)));
    }
    if (u != nullptr) {
      const Counts c = u->events.between(t - s.window_ms, t);
      user_impressions.floats[r] = double(c.impressions);
      user_clicks.floats[r] = double(c.clicks);
      int64_t taken = 0;
      for (auto it = u->clicked.rbegin(); it != u->clicked.rend() && taken < s.recent_clicks;
           ++it) {
        if (it->first >= t) continue;
        recent.strings.push_back(it->second);  // newest first
        recent.element_valid.push_back(1);
        ++taken;
      }
    }
    if (int64_t(recent.strings.size()) == recent.offsets.back()) {  // none: one null element
      recent.strings.emplace_back();
      recent.element_valid.push_back(0);
    }
    recent.offsets.push_back(int64_t(recent.strings.size()));
  }
  for (int64_t r = 0; r < item_rows; ++r) {
    if (!item || !item->present(source_row(*item, r))) continue;
    const Events* e = impl_->items.find(key_text(*item, source_row(*item, r)));
    if (e == nullptr) continue;
    const int64_t t = now(r);
    const Counts c = e->between(t - s.window_ms, t);
    item_impressions.floats[r] = double(c.impressions);
    item_clicks.floats[r] = double(c.clicks);
  }
  lock.unlock();

  RawColumn* made[] = {&recent, &user_impressions, &user_clicks, &item_impressions, &item_clicks};
  for (size_t i = 0; i < names.size(); ++i) {
    if (!batch.count(names[i])) batch.emplace(names[i], std::move(*made[i]));
  }
}

OnlineStats OnlineState::stats() const {
  std::shared_lock lock(impl_->mutex);
  return {impl_->users.size(), impl_->items.size(), impl_->events};
}

}  // namespace shoprank
