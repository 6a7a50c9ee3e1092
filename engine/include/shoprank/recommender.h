// Recommendations from the whole catalogue for one user, in three steps:
//
//   retrieve   the user's vector against every item's (retrieval/retriever.h): the best
//              `candidates` items, none of the excluded ones (by popularity for a user
//              without a vector: the cold-start answer)
//   score      the ranker's click probability of each candidate, from the request's own
//              columns (user id, time, device, ...) and each candidate's item id (its item
//              table columns looked up as in any ranking request)
//   rerank     the k best by that probability; with relevance_weight < 1 or caps, the
//              diversity re-rank (diversity.h: MMR over the retrieval model's item vectors,
//              at most so many items per category / brand / any item-table column)
//
//   auto recommender = shoprank::Recommender::load("artifacts/");  // export --retrieval
//   shoprank::Recommended top = recommender.recommend(request, exclude, /*k=*/10, {});
//
// The Triton ensemble `recommend` runs the same three steps as three models. Any number of
// threads may call a loaded Recommender at once.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "shoprank/ranker.h"
#include "shoprank/retrieval/retriever.h"
#include "shoprank/transform/raw_batch.h"

namespace shoprank {

struct RecommendOptions {
  int64_t candidates = 500;       // retrieved and scored (at least k, at most the catalogue)
  double relevance_weight = 1.0;  // MMR's weight of relevance, in [0, 1]; 1: no penalty
  std::vector<std::pair<std::string, int64_t>> caps;  // item column, at most so many per value
  int threads = 0;                // engine CPU threads; 0: all cores
};

struct Recommended {
  RawColumn ids;               // the items' ids, best first (the item key's type)
  std::vector<int64_t> items;  // their catalogue positions
  std::vector<float> scores;   // the ranker's click probabilities
  bool popularity = false;     // retrieved by popularity: the user had no vector
};

class Recommender {
 public:
  // Loads an artifact folder exported with --retrieval (one manifest check for both parts).
  // key_file: as Ranker::load's (artifacts with pseudonymised ids).
  static Recommender load(const std::string& folder, const std::string& key_file = "");

  const Ranker& ranker() const { return *ranker_; }
  // The ranker reads (and observes into) `state` from now on (Ranker::share_online_state).
  void share_online_state(std::shared_ptr<OnlineState> state);
  const Retriever& retriever() const { return *retriever_; }
  // The raw columns a request may carry: the ranker's inputs but the item key and the item
  // table's columns (the engine supplies those for each candidate).
  const std::vector<InputSpec>& request_inputs() const { return request_inputs_; }

  // The whole chain. request: one-row columns of request_inputs(); exclude: item ids (the
  // item key's type) never to recommend, possibly none; 1 <= k <= the catalogue. Fewer than
  // k items come back only when the exclusions leave fewer (none when they leave none).
  Recommended recommend(const RawBatch& request, const RawColumn& exclude, int64_t k,
                        const RecommendOptions& options = {}) const;

  // The steps, as the ensemble's models run them.
  Retrieved retrieve(const RawBatch& request, const RawColumn& exclude, int64_t k,
                     int64_t candidates, int threads = 0) const;
  // The ranker's scores of the retrieved items (their ids as the item key's column).
  std::vector<float> score(RawBatch request, RawColumn item_ids, int threads = 0) const;
  // The k best of the scored candidates (catalogue positions, one score each).
  Recommended rerank(const std::vector<int64_t>& items, const std::vector<float>& scores,
                     int64_t k, const RecommendOptions& options = {}) const;

  // Whether retrieval has a vector for the request's user (else: the cold-start answer).
  bool knows_user(const RawBatch& request) const;
  // Throws naming the first column that is not one of request_inputs() or not one row.
  void check_request(const RawBatch& request) const;
  void check_k(int64_t k) const;

 private:
  Recommender() = default;
  RawBatch pseudonymised(RawBatch request) const;
  std::shared_ptr<const void> storage_;  // the loaded artifacts both parts point into
  std::shared_ptr<const Ranker> ranker_;
  std::shared_ptr<const Retriever> retriever_;
  std::vector<InputSpec> request_inputs_;
};

}  // namespace shoprank
