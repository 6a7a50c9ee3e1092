#include "shoprank/ranker.h"

#include <algorithm>
#include <chrono>

#include "shoprank/errors.h"
#include "shoprank/io/artifacts.h"
#include "shoprank/online/click_match.h"
#include "shoprank/topk/topk.h"

namespace shoprank {

struct Ranker::DeviceCopy {
  std::mutex mutex;
  std::unique_ptr<model::ForwardCuda> forward;
};

const model::ForwardCuda& Ranker::on_device() const {
  std::lock_guard<std::mutex> lock(device_->mutex);
  if (!device_->forward) device_->forward = std::make_unique<model::ForwardCuda>(*forward_);
  return *device_->forward;
}

Ranker Ranker::load(const std::string& folder, const std::string& key_file) {
  return load(std::make_shared<const Artifacts>(load_artifacts(folder)), key_file);
}

Ranker Ranker::load(std::shared_ptr<const Artifacts> artifacts, const std::string& key_file) {
  const json::Value& spec = artifacts->ranker;
  Ranker r;
  r.folder_ = artifacts->folder;
  if (spec.has("pseudonymised")) {
    r.personal_ = std::make_shared<const PseudonymisedColumns>(spec["pseudonymised"], key_file,
                                                              r.folder_);
  }
  r.transform_ = std::make_shared<FeatureTransform>(spec, artifacts->tensors);
  r.tables_ = std::make_shared<SideTables>(spec, artifacts->tensors, *r.transform_);
  r.forward_ = std::make_shared<model::Forward>(spec["model"], artifacts->tensors,
                                                r.transform_->feature_names());
  if (spec.has("item_key")) {
    r.item_key_ = spec["item_key"].as_string();
    const auto& known = r.inputs();
    SHOPRANK_EXPECTS(r.item_key_.empty() ||
                         std::any_of(known.begin(), known.end(),
                                     [&](const InputSpec& s) { return s.name == r.item_key_; }),
                     spec["item_key"].path(), ": ", r.item_key_, " is not an input");
  } else {  // folders exported before ranker.json named it
    for (const auto& table : r.tables_->tables()) {
      if (table.name == "items") r.item_key_ = table.key;
    }
  }
  if (spec.has("realtime")) {
    r.online_ = std::make_shared<OnlineState>(RealtimeSpec::from_json(spec["realtime"]));
    for (const auto& table : r.tables_->tables()) {
      if (table.key == r.online_->spec().item) r.items_ = &table;
    }
    check_click_match(r.online_->spec(), r.items_);
    r.match_ = r.online_->spec().match;
  }
  r.device_ = std::make_shared<DeviceCopy>();
  r.storage_ = std::move(artifacts);  // tensors.bin stays alive as long as the Ranker
  return r;
}

void Ranker::share_online_state(std::shared_ptr<OnlineState> state) {
  SHOPRANK_EXPECTS(online_ != nullptr, folder_, ": the model has no real-time features");
  SHOPRANK_EXPECTS(state != nullptr, "share_online_state: no state given");
  const RealtimeSpec &mine = online_->spec(), &theirs = state->spec();
  SHOPRANK_EXPECTS(mine.user == theirs.user && mine.item == theirs.item &&
                       mine.timestamp == theirs.timestamp && mine.label == theirs.label &&
                       mine.recent_clicks == theirs.recent_clicks &&
                       mine.window_ms == theirs.window_ms,
                   folder_, ": the shared real-time state was made for other features");
  online_ = std::move(state);
}

std::vector<std::string> Ranker::personal_columns() const {
  return personal_ ? personal_->columns() : std::vector<std::string>{};
}

void Ranker::pseudonymise(RawBatch& batch) const {
  if (personal_) personal_->apply(batch);
}

void Ranker::fill_realtime(RawBatch& batch, int64_t now_ms) const {
  pseudonymise(batch);
  fill_realtime_pseudonymised(batch, now_ms);
}

void Ranker::fill_realtime_pseudonymised(RawBatch& batch, int64_t now_ms) const {
  SHOPRANK_EXPECTS(online_ != nullptr, folder_, ": the model has no real-time features");
  online_->fill(batch, now_ms);
  if (!match_.empty()) fill_click_matches(batch, online_->spec().item, match_, *items_);
}

int64_t Ranker::observe(const RawBatch& events) const {
  SHOPRANK_EXPECTS(online_ != nullptr, folder_, ": the model has no real-time features "
                   "(export it from an ETL run whose logs config has \"realtime\")");
  if (!personal_) return online_->observe(events);  // no copy where nothing is hashed
  RawBatch pseudonymised = events;
  pseudonymise(pseudonymised);
  return online_->observe(pseudonymised);
}

void Ranker::check_input_names(const std::vector<std::string>& names) const {
  std::string unknown;
  for (const auto& name : names) {
    const auto& known = inputs();
    const bool found = std::any_of(known.begin(), known.end(),
                                   [&](const InputSpec& s) { return s.name == name; });
    if (!found) unknown += (unknown.empty() ? "" : ", ") + name;
  }
  if (!unknown.empty()) {
    std::string names_read;
    for (const auto& s : inputs()) names_read += (names_read.empty() ? "" : ", ") + s.name;
    detail::throw_invalid("unknown input column(s): ", unknown, " (the model reads: ",
                          names_read, ")");
  }
}

ModelInputs Ranker::transform(RawBatch batch) const {
  std::vector<std::string> names;
  for (const auto& entry : batch) names.push_back(entry.first);
  check_input_names(names);
  pseudonymise(batch);
  if (online_) {
    const auto now = std::chrono::system_clock::now().time_since_epoch();
    fill_realtime_pseudonymised(batch, std::chrono::duration_cast<std::chrono::milliseconds>(now).count());
  }
  std::vector<KnownFeatures> known;
  tables_->fill(batch, known);  // checks the keys it reads; the transform checks the rest
  return transform_->transform(batch, known);
}

std::vector<float> Ranker::score(RawBatch batch, int threads, Device device) const {
  return forward(transform(std::move(batch)), threads, device);
}

std::vector<float> Ranker::forward(const ModelInputs& inputs, int threads, Device device) const {
  SHOPRANK_EXPECTS(inputs.features.size() == feature_names().size(), "expected the ",
                   feature_names().size(), " model features, got ", inputs.features.size());
  if (device == Device::Cuda) return on_device().run(inputs);
  return forward_->run(inputs, threads);
}

namespace {
void name_rows(Ranked& ranked, const std::vector<int64_t>& item_ids) {
  ranked.ids = ranked.rows;
  if (item_ids.empty()) return;
  for (int64_t& id : ranked.ids) id = item_ids[static_cast<size_t>(id)];
}
}  // namespace

RawColumn answer_ids(const Ranked& best, const std::vector<std::string>& item_texts) {
  RawColumn ids;
  ids.rows = static_cast<int64_t>(best.rows.size());
  if (item_texts.empty()) {
    ids.type = InputType::Int64;
    ids.ints = best.ids;
    return ids;
  }
  ids.type = InputType::String;
  for (int64_t row : best.rows) ids.strings.push_back(item_texts.at(static_cast<size_t>(row)));
  return ids;
}

Ranked select_best(const std::vector<float>& scores, int64_t k,
                   const std::vector<int64_t>& item_ids) {
  const auto candidates = static_cast<int64_t>(scores.size());
  check_k(k, candidates);
  SHOPRANK_EXPECTS(item_ids.empty() || int64_t(item_ids.size()) == candidates, "expected ",
                   candidates, " item ids, got ", item_ids.size());
  Ranked out;
  out.rows.resize(static_cast<size_t>(k));
  out.scores.resize(static_cast<size_t>(k));
  topk(ConstMatrixView<float>{scores.data(), 1, candidates}, k, std::nullopt,
       MatrixView<float>{out.scores.data(), 1, k}, MatrixView<int64_t>{out.rows.data(), 1, k},
       TopKOptions{1});
  name_rows(out, item_ids);
  return out;
}

Ranked Ranker::rank(RawBatch batch, int64_t k, int threads, Device device) const {
  const ModelInputs inputs = transform(std::move(batch));
  check_k(k, inputs.rows);
  if (device == Device::Cuda) {
    Ranked out;
    on_device().rank(inputs, k, out.rows, out.scores);
    name_rows(out, {});
    return out;
  }
  return select_best(forward_->run(inputs, threads), k);
}

Ranked Ranker::rank(RankRequest request, int threads, Device device) const {
  check_k(request.k, request.candidates);  // before the transform's work
  Ranked out = rank(std::move(request.batch), request.k, threads, device);
  name_rows(out, request.item_ids);
  return out;
}

RequestRules Ranker::request_rules(int64_t max_candidates) const {
  return RequestRules{inputs(), item_key_, max_candidates};
}

}  // namespace shoprank
