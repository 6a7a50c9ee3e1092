// Real-time behaviour features (issue 20): what users did moments ago, kept in memory and
// updated by every served event, read by the ranker on the next request.
//
//   recent_clicks             the user's last N clicked item ids (as text), newest first;
//                             one null element where there are none (a list column that
//                             is empty in every row of a batch fails Merlin's loader)
//   recent_user_impressions   the user's impressions in [now - window, now)
//   recent_user_clicks        ... and clicks
//   recent_item_impressions   the candidate item's impressions in [now - window, now)
//   recent_item_clicks        ... and clicks
//   recent_clicks_same_C      for each item column C the spec names in "match": how many
//                             of recent_clicks share the candidate's C (items table values;
//                             filled by the Ranker, which holds the table: click_match.h)
//
// Only events strictly before `now` count: an impression does not see itself, nor others
// logged at the same millisecond. python/shoprank/etl/realtime.py computes the same columns
// offline from the logs (the training features); tests/online check the two agree.
//
// Exact for requests not older than the newest event they concern (serving, and a replay
// that fills each time before it observes it): the window is pruned from a key's newest
// event, and a user's list keeps the last N clicks (and those tied at the newest time).
//
// Thread-safe: any number of readers (fill) and writers (observe) at once. Bounded: at most
// max_keys users and max_keys items (the least recently active ones are evicted) and at most
// max_events_per_key events per key inside the window (the oldest dropped first).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "shoprank/io/json.h"
#include "shoprank/transform/raw_batch.h"

namespace shoprank {

struct RealtimeSpec {
  std::string user, item, timestamp, label;  // the event columns (the logs' roles)
  int64_t recent_clicks = 5;                  // N of recent_clicks
  int64_t window_ms = 3'600'000;              // the counters' sliding window
  int64_t max_keys = 1'000'000;               // per kind (users, items)
  int64_t max_events_per_key = 10'000;
  std::vector<std::string> match;             // item columns C of recent_clicks_same_C

  // ranker.json's "realtime" section (engine/io/ARTIFACTS.md); errors name the key.
  static RealtimeSpec from_json(const json::Value& section);
};

namespace realtime {
inline const std::string kRecentClicks = "recent_clicks";
inline const std::string kUserImpressions = "recent_user_impressions";
inline const std::string kUserClicks = "recent_user_clicks";
inline const std::string kItemImpressions = "recent_item_impressions";
inline const std::string kItemClicks = "recent_item_clicks";
// Every column the state fills, in this order.
const std::vector<std::string>& column_names();
inline std::string match_column(const std::string& item_column) {
  return "recent_clicks_same_" + item_column;
}
}  // namespace realtime

struct OnlineStats {
  int64_t users = 0, items = 0, events = 0;  // keys held and events observed in all
};

class OnlineState {
 public:
  explicit OnlineState(RealtimeSpec spec);
  ~OnlineState();
  const RealtimeSpec& spec() const { return spec_; }

  // Takes in events: spec.user, spec.item (int64 or string), spec.timestamp (timestamp_ms
  // or int64 milliseconds) and spec.label (int64 or float64; > 0 is a click) columns of equal
  // length. An event counts only where it names both its user and its item (an anonymous
  // impression changes nothing). Returns the events taken.
  int64_t observe(const RawBatch& events);
  // Adds every column of realtime::column_names() the batch lacks, as of each row's
  // spec.timestamp value where the batch has that column, else as of now_ms.
  void fill(RawBatch& batch, int64_t now_ms) const;
  OnlineStats stats() const;

 private:
  RealtimeSpec spec_;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The text form of an id as the state keys it (and the recent_clicks elements hold it):
// int64 in decimal, strings as they are.
std::string key_text(const RawColumn& column, int64_t row);

}  // namespace shoprank
