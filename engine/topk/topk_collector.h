// Streaming top-k for one row on the CPU. Scores arrive in increasing index order, so a
// score equal to the current threshold arrives at a higher index and cannot win: a plain
// `score > threshold` filter is exact, and most scores are rejected by it alone.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "score_order.h"

namespace shoprank::detail {

struct Candidate {
  float value;
  int64_t index;
};

inline bool better(const Candidate& a, const Candidate& b) {
  const uint32_t ka = score_key(a.value), kb = score_key(b.value);
  return ka != kb ? ka > kb : a.index < b.index;
}

class TopKCollector {
 public:
  TopKCollector() = default;
  // `excluded`: sorted, de-duplicated indices that must never be kept (may be empty).
  TopKCollector(int64_t k, const int64_t* excluded, int64_t num_excluded)
      : k_(k), excluded_(excluded), excluded_end_(excluded + num_excluded) {
    buffer_.reserve(static_cast<size_t>(capacity()));
  }

  // The current bar: scores must beat it to enter (NaN while fewer than k are held).
  float threshold() const { return threshold_; }
  // True while any number (not only those above the threshold) may still enter.
  bool admits_every_number() const { return threshold_ != threshold_; }

  bool admits(float value) const {
    return value > threshold_ || (admits_every_number() && (value == value || holds_fewer_than_k()));
  }

  void offer(float value, int64_t index) {
    if (!admits(value) || is_excluded(index)) return;
    buffer_.push_back({value, index});
    if (static_cast<int64_t>(buffer_.size()) >= capacity()) shrink_to_k();
  }

  // Merges another collector's survivors (any index order).
  void absorb(const TopKCollector& other) {
    for (const Candidate& c : other.buffer_) {
      buffer_.push_back(c);
      if (static_cast<int64_t>(buffer_.size()) >= capacity()) shrink_to_k();
    }
  }

  // Writes the best k, best first, padded with (-inf, -1).
  void write_sorted(float* values, int64_t* indices) {
    shrink_to_k();
    std::sort(buffer_.begin(), buffer_.end(), better);
    const int64_t n = static_cast<int64_t>(buffer_.size());
    for (int64_t i = 0; i < k_; ++i) {
      values[i] = i < n ? buffer_[i].value : -std::numeric_limits<float>::infinity();
      indices[i] = i < n ? buffer_[i].index : -1;
    }
  }

 private:
  int64_t capacity() const { return std::max<int64_t>(2 * k_, k_ + 64); }
  bool holds_fewer_than_k() const { return static_cast<int64_t>(buffer_.size()) < k_; }

  bool is_excluded(int64_t index) const {
    return excluded_ != excluded_end_ && std::binary_search(excluded_, excluded_end_, index);
  }

  void shrink_to_k() {
    if (static_cast<int64_t>(buffer_.size()) < k_) return;
    std::nth_element(buffer_.begin(), buffer_.begin() + (k_ - 1), buffer_.end(), better);
    buffer_.resize(static_cast<size_t>(k_));
    const Candidate& worst = buffer_[k_ - 1];
    threshold_ = worst.value;
    // A NaN k-th keeps admitting every number; only a lower-indexed NaN beats a NaN,
    // and those arrive first.
  }

  int64_t k_ = 0;
  const int64_t* excluded_ = nullptr;
  const int64_t* excluded_end_ = nullptr;
  float threshold_ = std::numeric_limits<float>::quiet_NaN();
  std::vector<Candidate> buffer_;
};

}  // namespace shoprank::detail
