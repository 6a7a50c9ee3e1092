// Diversity re-rank of one request's candidates: greedy Maximal Marginal Relevance (MMR)
// over item embeddings, with hard caps per label (category, brand).
//
// Semantics (python/shoprank/selection/diversity_reference.py is the reference):
//  * repeatedly pick, among the candidates not yet picked and not blocked by a cap, the one
//    maximising  objective(i) = w * score[i] - (1 - w) * max_{j picked} sim(i, j),
//    w = relevance_weight in [0, 1] (1: pure relevance); with nothing picked the penalty
//    term is 0; w * score is taken as 0 when w = 0 and the score is a number (0 * inf);
//  * sim is the cosine similarity of the embeddings; a zero vector has similarity 0 with
//    everything;
//  * the objective is evaluated in double and compared as float32 in shoprank's score order
//    (engine/topk/score_order.h): a NaN score gives a NaN objective, below every number;
//    ties go to the lower candidate index. So w = 1 without caps returns topk's indices;
//  * a cap (labels, max_per_label) blocks every candidate whose label already appears
//    max_per_label times among the picks; a label < 0 means "no label", never capped;
//  * out_indices gets the picks in pick order, out_values their scores; when fewer than k
//    candidates are eligible, the rest is padded with index -1 and value -inf.
// Cost: O(k * n * d); each candidate keeps its running max similarity, updated against the
// newest pick only.
#pragma once

#include <cstdint>
#include <vector>

#include "shoprank/views.h"

namespace shoprank {

struct DiversityCap {
  const int64_t* labels = nullptr;  // one per candidate; < 0: no label, never capped
  int64_t max_per_label = 1;        // >= 1
};

struct DiversityOptions {
  int num_threads = 0;  // 0: OpenMP's default (OMP_NUM_THREADS or all cores)
};

// scores: n relevance scores; embeddings: n x d, finite; out_values / out_indices: k each.
void diversify(const float* scores, ConstMatrixView<float> embeddings, int64_t k,
               double relevance_weight, const std::vector<DiversityCap>& caps,
               float* out_values, int64_t* out_indices, const DiversityOptions& options = {});

}  // namespace shoprank
