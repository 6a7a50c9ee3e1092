// Greedy MMR with label caps (semantics in shoprank/diversity.h): for every pick, one
// parallel pass over the open candidates updates their running max similarity against the
// newest pick and keeps the best objective as a top-k rank key.
#include <algorithm>
#include <cmath>
#include <limits>
#include <unordered_map>

#include "shoprank/detail/threads.h"
#include "shoprank/diversity.h"
#include "shoprank/errors.h"
#include "topk/score_order.h"
#include "topk/topk_checks.h"

namespace shoprank {

namespace {

// Below this many multiply-adds per pick, threads cost more than they save.
constexpr int64_t kMinParallelWork = 1 << 16;

// Products of float32 are exact in double, and the sum stays there, in a fixed order: picks
// must not hinge on float32 rounding. Eight lanes so that the compiler vectorises.
double dot(const float* a, const float* b, int64_t d) {
  double lanes[8] = {};
  int64_t j = 0;
  for (; j + 8 <= d; j += 8)
    for (int l = 0; l < 8; ++l) lanes[l] += static_cast<double>(a[j + l]) * b[j + l];
  double sum = 0;
  for (; j < d; ++j) sum += static_cast<double>(a[j]) * b[j];
  for (double lane : lanes) sum += lane;
  return sum;
}

// 1 / |row|, or 0 for a zero row so that its similarities are 0. In double a finite row's
// squared norm neither overflows nor underflows, so a non-finite one means a non-finite row.
std::vector<double> inverse_norms(ConstMatrixView<float> embeddings,
                                  [[maybe_unused]] int threads) {
  const int64_t n = embeddings.rows;
  std::vector<double> inverse(static_cast<size_t>(n));
  int64_t first_bad = n;
#pragma omp parallel for reduction(min : first_bad) num_threads(threads) \
    if (n * embeddings.cols >= kMinParallelWork)
  for (int64_t i = 0; i < n; ++i) {
    const double squared = dot(embeddings.row(i), embeddings.row(i), embeddings.cols);
    if (!std::isfinite(squared)) first_bad = std::min(first_bad, i);
    inverse[i] = squared > 0 ? 1 / std::sqrt(squared) : 0;
  }
  SHOPRANK_EXPECTS(first_bad == n, "embeddings: row ", first_bad, " is not finite");
  return inverse;
}

}  // namespace

void diversify(const float* scores, ConstMatrixView<float> embeddings, int64_t k,
               double relevance_weight, const std::vector<DiversityCap>& caps,
               float* out_values, int64_t* out_indices, const DiversityOptions& options) {
  const int64_t n = embeddings.rows, d = embeddings.cols;
  const double w = relevance_weight;
  SHOPRANK_EXPECTS(k >= 0, "k: must be >= 0, got ", k);
  SHOPRANK_EXPECTS(w >= 0 && w <= 1, "relevance_weight: must be in [0, 1], got ", w);
  detail::check_columns(n);
  for (size_t c = 0; c < caps.size(); ++c)
    SHOPRANK_EXPECTS(caps[c].max_per_label >= 1, "caps[", c, "] max_per_label: must be >= 1, got ",
                     caps[c].max_per_label);
  const int threads = detail::thread_count(options.num_threads);
  const std::vector<double> inverse_norm = inverse_norms(embeddings, threads);
  std::fill_n(out_values, k, -std::numeric_limits<float>::infinity());
  std::fill_n(out_indices, k, int64_t{-1});

  std::vector<double> relevance(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i)  // 0 * inf would be NaN: with w = 0 a number counts 0
    relevance[i] = std::isnan(scores[i]) || w > 0 ? w * scores[i] : 0.0;
  const bool penalised = w < 1;  // at w = 1 the similarity term is 0: skip computing it
  [[maybe_unused]] const bool parallel =
      n * (penalised ? std::max<int64_t>(d, 1) : 1) >= kMinParallelWork;
  std::vector<double> max_sim(static_cast<size_t>(n), 0.0);  // 0: the penalty before a pick
  std::vector<uint8_t> open(static_cast<size_t>(n), 1);       // neither picked nor capped
  std::vector<std::unordered_map<int64_t, int64_t>> picked_per_label(caps.size());

  for (int64_t slot = 0; slot < k; ++slot) {
    const int64_t last = slot > 0 ? out_indices[slot - 1] : -1;
    uint64_t best = 0;  // rank key of the best open candidate; 0: none left
#pragma omp parallel for reduction(max : best) num_threads(threads) if (parallel)
    for (int64_t i = 0; i < n; ++i) {
      if (!open[i]) continue;
      if (penalised && last >= 0) {
        const double sim = dot(embeddings.row(i), embeddings.row(last), d) * inverse_norm[i] *
                           inverse_norm[last];
        max_sim[i] = slot == 1 ? sim : std::max(max_sim[i], sim);
      }
      const double objective = relevance[i] - (1 - w) * max_sim[i];
      best = std::max(best, detail::rank_key(static_cast<float>(objective), i));
    }
    if (best == 0) break;  // fewer than k eligible: the rest stays padding
    const int64_t pick = detail::index_from_rank_key(best);
    out_indices[slot] = pick;
    out_values[slot] = scores[pick];
    open[pick] = 0;
    for (size_t c = 0; c < caps.size(); ++c) {
      const int64_t* labels = caps[c].labels;
      const int64_t label = labels[pick];
      if (label < 0 || ++picked_per_label[c][label] < caps[c].max_per_label) continue;
      for (int64_t i = 0; i < n; ++i)  // the label is full: close the rest of it for good
        if (labels[i] == label) open[i] = 0;
    }
  }
}

}  // namespace shoprank
