// One recommendation request as tensors, read and checked in one place for the Triton
// `recommend` ensemble's steps (csrc/triton) and shoprank._engine (csrc/recommend.cpp).
// Clients write the layout with python/shoprank/serving/wire.py. Every tensor is [1, n]:
//
//   request column NAME   [1, 1]: the request's own columns (Recommender::request_inputs:
//                         the user id, the time, the device, ...), in request.h's types
//   exclude               [1, n], optional: item ids never to recommend (the item key's
//                         type: INT64 or BYTES); ids outside the catalogue are ignored
//   k                     INT64 [1, 1]: how many items to return
//   candidates            INT64 [1, 1], optional: how many to retrieve and rank
//   relevance_weight      FP32 [1, 1], optional: the diversity re-rank's knob (1: none)
//   max_per_COLUMN        INT64 [1, 1], optional: at most so many items per value of the
//                         item-table column COLUMN (category, brand, ...)
//
// Between the steps: candidate_items (INT64 [1, n], catalogue positions), the candidates'
// ids under the item key's name, and candidate_scores (FP32 [1, n]).
#pragma once

#include <cstdint>

#include "shoprank/recommender.h"
#include "shoprank/request.h"

namespace shoprank {

namespace wire {
inline const std::string kExclude = "exclude";
inline const std::string kCandidates = "candidates";
inline const std::string kRelevanceWeight = "relevance_weight";
inline const std::string kMaxPer = "max_per_";
inline const std::string kCandidateItems = "candidate_items";
}  // namespace wire

struct RecommendRequest {
  RawBatch request;  // the request's own columns
  RawColumn exclude;
  int64_t k = 0;
  RecommendOptions options;
};

// Everything a step may read of the layout above; `defaults` supplies what the request leaves
// out; max_candidates (0: no limit) bounds candidates and the exclude list's length.
RecommendRequest read_recommend_request(const Recommender& recommender,
                                        const WireTensors& tensors,
                                        const RecommendOptions& defaults,
                                        int64_t max_candidates = 0);

// The rerank step's input: candidate_items and candidate_scores, one score per item.
struct ScoredCandidates {
  std::vector<int64_t> items;  // catalogue positions
  std::vector<float> scores;
};
ScoredCandidates read_scored_candidates(const WireTensors& tensors);

}  // namespace shoprank
