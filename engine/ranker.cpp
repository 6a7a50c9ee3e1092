#include "shoprank/ranker.h"

#include <algorithm>

#include "shoprank/errors.h"
#include "shoprank/io/artifacts.h"
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

Ranker Ranker::load(const std::string& folder) {
  auto artifacts = std::make_shared<Artifacts>(load_artifacts(folder));
  const json::Value& spec = artifacts->ranker;
  Ranker r;
  r.folder_ = folder;
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
  r.device_ = std::make_shared<DeviceCopy>();
  r.storage_ = std::move(artifacts);  // tensors.bin stays alive as long as the Ranker
  return r;
}

ModelInputs Ranker::transform(RawBatch batch) const {
  std::string unknown;
  for (const auto& [name, column] : batch) {
    const auto& known = inputs();
    const bool found = std::any_of(known.begin(), known.end(),
                                   [&](const InputSpec& s) { return s.name == name; });
    if (!found) unknown += (unknown.empty() ? "" : ", ") + name;
  }
  if (!unknown.empty()) {
    std::string names;
    for (const auto& s : inputs()) names += (names.empty() ? "" : ", ") + s.name;
    detail::throw_invalid("unknown input column(s): ", unknown, " (the model reads: ", names, ")");
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
  if (device == Device::Cuda) return on_device().score(inputs);
  return forward_->score(inputs, threads);
}

Ranked Ranker::rank(RawBatch batch, int64_t k, int threads, Device device) const {
  const ModelInputs inputs = transform(std::move(batch));
  SHOPRANK_EXPECTS(inputs.rows > 0, "no candidates to rank");
  SHOPRANK_EXPECTS(k >= 1 && k <= inputs.rows, "k must be between 1 and the number of "
                   "candidates (", inputs.rows, "), got ", k);
  Ranked out;
  if (device == Device::Cuda) {
    on_device().rank(inputs, k, out.rows, out.scores);
    return out;
  }
  const std::vector<float> scores = forward_->score(inputs, threads);
  out.rows.resize(static_cast<size_t>(k));
  out.scores.resize(static_cast<size_t>(k));
  topk(ConstMatrixView<float>{scores.data(), 1, inputs.rows}, k, std::nullopt,
       MatrixView<float>{out.scores.data(), 1, k}, MatrixView<int64_t>{out.rows.data(), 1, k},
       TopKOptions{1});
  return out;
}

}  // namespace shoprank
