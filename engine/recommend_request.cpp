#include "shoprank/recommend_request.h"

#include "shoprank/errors.h"

namespace shoprank {

RecommendRequest read_recommend_request(const Recommender& recommender,
                                        const WireTensors& tensors,
                                        const RecommendOptions& defaults,
                                        int64_t max_candidates) {
  RecommendRequest out;
  out.request = read_request(RequestRules{recommender.request_inputs(), "", 0}, tensors,
                             /*with_k=*/false).batch;
  recommender.check_request(out.request);
  const Retriever& retriever = recommender.retriever();
  if (tensors.count(wire::kExclude)) {
    out.exclude = read_column(wire::kExclude, retriever.item_key_type(), tensors);
  } else {
    out.exclude.type = retriever.item_key_type();
  }
  const auto k = read_one_int64(wire::kK, tensors);
  SHOPRANK_EXPECTS(k.has_value(), "missing input k (how many items to return)");
  recommender.check_k(*k);  // against the catalogue, not a candidate list
  out.k = *k;
  out.options = defaults;
  if (auto candidates = read_one_int64(wire::kCandidates, tensors)) {
    SHOPRANK_EXPECTS(*candidates >= 1, "candidates must be >= 1, got ", *candidates);
    out.options.candidates = *candidates;
  }
  if (max_candidates > 0) {
    SHOPRANK_EXPECTS(std::max(out.options.candidates, out.k) <= max_candidates,
                     std::max(out.options.candidates, out.k), " candidates in one request; ",
                     "this model takes at most ", max_candidates,
                     " (export-triton --max-candidates)");
    SHOPRANK_EXPECTS(out.exclude.rows <= max_candidates, out.exclude.rows,
                     " excluded items in one request; this model takes at most ",
                     max_candidates, " (export-triton --max-candidates)");
  }
  if (auto weight = read_one_float(wire::kRelevanceWeight, tensors)) {
    SHOPRANK_EXPECTS(*weight >= 0.0f && *weight <= 1.0f,
                     "relevance_weight must be in [0, 1], got ", *weight);
    out.options.relevance_weight = *weight;
  }
  for (const std::string& column : retriever.label_columns()) {
    if (auto most = read_one_int64(wire::kMaxPer + column, tensors)) {
      SHOPRANK_EXPECTS(*most >= 1, wire::kMaxPer, column, " must be >= 1, got ", *most);
      out.options.caps.emplace_back(column, *most);
    }
  }
  return out;
}

ScoredCandidates read_scored_candidates(const WireTensors& tensors) {
  ScoredCandidates out;
  out.items = read_int64s(wire::kCandidateItems, tensors);
  out.scores = read_floats(wire::kCandidateScores, tensors);
  SHOPRANK_EXPECTS(out.scores.size() == out.items.size(), wire::kCandidateScores, ": ",
                   out.scores.size(), " scores for ", out.items.size(), " candidates");
  return out;
}

}  // namespace shoprank
