#include "shoprank/recommender.h"

#include <algorithm>

#include "shoprank/diversity.h"
#include "shoprank/errors.h"
#include "shoprank/io/artifacts.h"

namespace shoprank {

void Recommender::share_online_state(std::shared_ptr<OnlineState> state) {
  auto sharing = std::make_shared<Ranker>(*ranker_);  // copies share all but the state
  sharing->share_online_state(std::move(state));
  ranker_ = std::move(sharing);
}

Recommender Recommender::load(const std::string& folder, const std::string& key_file) {
  auto artifacts = std::make_shared<const Artifacts>(load_artifacts(folder));
  SHOPRANK_EXPECTS(artifacts->ranker.has("retrieval"), "ranker artifacts ", folder,
                   ": no retrieval model (export with shoprank export --retrieval DIR)");
  const json::Value& section = artifacts->ranker["retrieval"];
  Recommender r;
  r.ranker_ = std::make_shared<const Ranker>(Ranker::load(artifacts, key_file));
  r.retriever_ = std::make_shared<const Retriever>(section, artifacts->tensors);
  r.storage_ = artifacts;
  const std::string item_table = section["item"]["table"].as_string();
  bool item_key_read = false;
  for (const InputSpec& spec : r.ranker_->inputs()) {
    if (spec.name == r.retriever_->item_key()) {
      SHOPRANK_EXPECTS(spec.type == r.retriever_->item_key_type(), section.path(),
                       ": the item ids' type differs from the ranker's ", spec.name);
      item_key_read = true;
    } else if (item_table.empty() || spec.table != item_table) {
      r.request_inputs_.push_back(spec);
    }
  }
  SHOPRANK_EXPECTS(item_key_read && r.ranker_->item_key() == r.retriever_->item_key(),
                   section.path(), ": the ranker's candidates are not named by ",
                   r.retriever_->item_key());
  const auto& own = r.request_inputs_;
  SHOPRANK_EXPECTS(std::any_of(own.begin(), own.end(),
                               [&](const InputSpec& s) { return s.name == r.retriever_->user_key(); }),
                   section.path(), ": the ranker does not read the retrieval model's user id ",
                   r.retriever_->user_key(), " (a request could not name its user)");
  return r;
}

void Recommender::check_request(const RawBatch& request) const {
  for (const auto& [name, column] : request) {
    const bool known = std::any_of(request_inputs_.begin(), request_inputs_.end(),
                                   [&](const InputSpec& s) { return s.name == name; });
    if (!known) {
      std::string names;
      for (const auto& s : request_inputs_) names += (names.empty() ? "" : ", ") + s.name;
      detail::throw_invalid("request column ", name, ": a recommendation request carries only ",
                            "the request's own columns (", names, "); the engine chooses the "
                            "items and looks up their columns");
    }
    SHOPRANK_EXPECTS(column.rows == 1, "request column ", name, ": one value per request, got ",
                     column.rows);
  }
}

bool Recommender::knows_user(const RawBatch& request) const {
  return retriever_->user_row(pseudonymised(request)) >= 0;
}

// The retrieval model's users are keyed by pseudonym where the artifacts have personal ids.
RawBatch Recommender::pseudonymised(RawBatch request) const {
  ranker_->pseudonymise(request);
  return request;
}

void Recommender::check_k(int64_t k) const {
  SHOPRANK_EXPECTS(k >= 1 && k <= retriever_->items(), "k must be between 1 and the catalogue's ",
                   retriever_->items(), " items, got ", k);
}

Retrieved Recommender::retrieve(const RawBatch& request, const RawColumn& exclude, int64_t k,
                                int64_t candidates, int threads) const {
  check_request(request);
  check_k(k);
  SHOPRANK_EXPECTS(candidates >= 1, "candidates must be >= 1, got ", candidates);
  SHOPRANK_EXPECTS(exclude.type == retriever_->item_key_type(), "exclude: item ids of type ",
                   input_type_name(retriever_->item_key_type()), " expected, got ",
                   input_type_name(exclude.type));
  check_column("exclude", exclude);
  return retriever_->retrieve(retriever_->user_row(pseudonymised(request)), retriever_->positions(exclude),
                              std::max(candidates, k), threads);
}

std::vector<float> Recommender::score(RawBatch request, RawColumn item_ids, int threads) const {
  check_request(request);
  if (item_ids.rows == 0) return {};
  request[retriever_->item_key()] = std::move(item_ids);
  return ranker_->score(std::move(request), threads);
}

Recommended Recommender::rerank(const std::vector<int64_t>& items,
                                const std::vector<float>& scores, int64_t k,
                                const RecommendOptions& options) const {
  check_k(k);
  const auto n = static_cast<int64_t>(items.size());
  SHOPRANK_EXPECTS(int64_t(scores.size()) == n, "rerank: ", scores.size(), " scores for ", n,
                   " candidates");
  SHOPRANK_EXPECTS(options.relevance_weight >= 0.0 && options.relevance_weight <= 1.0,
                   "relevance_weight must be in [0, 1], got ", options.relevance_weight);
  const ConstMatrixView<float> vectors = retriever_->item_vectors();
  std::vector<float> gathered(static_cast<size_t>(n * vectors.cols));
  for (int64_t i = 0; i < n; ++i) {
    SHOPRANK_EXPECTS(items[i] >= 0 && items[i] < vectors.rows, "rerank: catalogue position ",
                     items[i], " outside [0, ", vectors.rows, ")");
    std::copy(vectors.row(items[i]), vectors.row(items[i]) + vectors.cols,
              gathered.begin() + i * vectors.cols);
  }
  std::vector<std::vector<int64_t>> labels;
  std::vector<DiversityCap> caps;
  for (const auto& [column, most] : options.caps) {
    SHOPRANK_EXPECTS(most >= 1, "max per ", column, " must be >= 1, got ", most);
    const int64_t* codes = retriever_->labels(column);
    auto& mine = labels.emplace_back(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) mine[i] = codes[items[i]];
    caps.push_back(DiversityCap{mine.data(), most});
  }
  const int64_t picks = std::min(k, n);
  std::vector<float> values(static_cast<size_t>(picks));
  std::vector<int64_t> rows(static_cast<size_t>(picks));
  DiversityOptions diversity;
  diversity.num_threads = options.threads;
  diversify(scores.data(), ConstMatrixView<float>{gathered.data(), n, vectors.cols}, picks,
            options.relevance_weight, caps, values.data(), rows.data(), diversity);
  Recommended out;
  for (int64_t i = 0; i < picks && rows[i] >= 0; ++i) {  // caps may leave fewer
    out.items.push_back(items[rows[i]]);
    out.scores.push_back(values[i]);
  }
  out.ids = retriever_->ids(out.items);
  return out;
}

Recommended Recommender::recommend(const RawBatch& request, const RawColumn& exclude, int64_t k,
                                   const RecommendOptions& options) const {
  const Retrieved found = retrieve(request, exclude, k, options.candidates, options.threads);
  const auto scores = score(request, retriever_->ids(found.items), options.threads);
  Recommended out = rerank(found.items, scores, k, options);
  out.popularity = found.popularity;
  return out;
}

}  // namespace shoprank
