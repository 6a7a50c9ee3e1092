#include "shoprank/transform/feature_transform.h"

#include <algorithm>
#include <map>

#include "feature_ops.h"
#include "shoprank/errors.h"

namespace shoprank {

FeatureTransform::FeatureTransform(const json::Value& ranker, const TensorFile& tensors) {
  std::map<std::string, InputType> types;
  for (const auto& input : ranker["inputs"].items()) {
    InputSpec spec;
    spec.name = input["name"].as_string();
    spec.type = parse_input_type(input["type"].as_string(), input["type"].path());
    if (!input["table"].is_null()) spec.table = input["table"].as_string();
    SHOPRANK_EXPECTS(types.emplace(spec.name, spec.type).second, input.path(),
                     ": input \"", spec.name, "\" listed twice");
    inputs_.push_back(spec);
  }
  for (const auto& feature : ranker["features"].items()) {
    ops_.push_back(make_feature_op(feature, tensors, types));
    names_.push_back(ops_.back()->name);
    for (const auto& input : ops_.back()->inputs) {
      if (std::find(required_.begin(), required_.end(), input) == required_.end()) {
        required_.push_back(input);
      }
    }
  }
}

FeatureTransform::~FeatureTransform() = default;
FeatureTransform::FeatureTransform(FeatureTransform&&) noexcept = default;

void FeatureTransform::check(const RawBatch& batch) const {
  for (const auto& input : inputs_) {
    auto it = batch.find(input.name);
    if (it == batch.end()) continue;
    SHOPRANK_EXPECTS(it->second.type == input.type, "column \"", input.name, "\": expected ",
                     input_type_name(input.type), " values, got ", input_type_name(it->second.type));
  }
  std::string missing;
  for (const auto& name : required_) {
    if (!batch.count(name)) missing += (missing.empty() ? "" : ", ") + name;
  }
  SHOPRANK_EXPECTS(missing.empty(), "missing required input column(s): ", missing);
}

ModelInputs FeatureTransform::transform(const RawBatch& batch) const {
  check(batch);
  ModelInputs out;
  out.rows = batch_rows(batch, required_);
  const int64_t n = out.rows;
  out.features.reserve(ops_.size());
  std::vector<const RawColumn*> inputs;
  for (const auto& op : ops_) {
    FeatureColumn column;
    column.name = op->name;
    column.categorical = op->categorical;
    column.list = op->list;
    if (column.list) column.offsets.push_back(0);
    inputs.clear();
    bool broadcast = n > 1;
    for (const auto& name : op->inputs) {
      inputs.push_back(&batch.at(name));
      broadcast = broadcast && inputs.back()->rows == 1;
    }
    if (broadcast) {  // one value for every row: compute it once
      op->append(inputs, 0, column);
      if (column.list) {
        const std::vector<int32_t> one(column.ids);
        for (int64_t r = 1; r < n; ++r) {
          column.ids.insert(column.ids.end(), one.begin(), one.end());
          column.offsets.push_back(static_cast<int64_t>(column.ids.size()));
        }
      } else if (column.categorical) {
        column.ids.assign(static_cast<size_t>(n), column.ids[0]);
      } else {
        column.values.assign(static_cast<size_t>(n), column.values[0]);
      }
    } else {
      if (column.categorical && !column.list) column.ids.reserve(static_cast<size_t>(n));
      if (!column.categorical) column.values.reserve(static_cast<size_t>(n));
      for (int64_t r = 0; r < n; ++r) op->append(inputs, r, column);
    }
    out.features.push_back(std::move(column));
  }
  return out;
}

}  // namespace shoprank
