#include "shoprank/transform/feature_transform.h"

#include <algorithm>
#include <map>

#include "feature_ops.h"
#include "shoprank/errors.h"

namespace shoprank {

namespace {
void add_once(std::vector<std::string>& names, const std::string& name) {
  if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
}
}  // namespace

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
    for (const auto& input : ops_.back()->inputs) add_once(required_, input);
  }
}

FeatureTransform::~FeatureTransform() = default;
FeatureTransform::FeatureTransform(FeatureTransform&&) noexcept = default;

void FeatureTransform::check(const RawBatch& batch) const { check(batch, required_); }

void FeatureTransform::check(const RawBatch& batch, const std::vector<std::string>& required) const {
  for (const auto& input : inputs_) {
    auto it = batch.find(input.name);
    if (it == batch.end()) continue;
    SHOPRANK_EXPECTS(it->second.type == input.type, "column \"", input.name, "\": expected ",
                     input_type_name(input.type), " values, got ", input_type_name(it->second.type));
  }
  std::string missing;
  for (const auto& name : required) {
    if (!batch.count(name)) missing += (missing.empty() ? "" : ", ") + name;
  }
  SHOPRANK_EXPECTS(missing.empty(), "missing required input column(s): ", missing);
}

const std::vector<std::string>& FeatureTransform::feature_inputs(size_t i) const {
  return ops_.at(i)->inputs;
}

namespace {
// The rows of `all` (a feature over every table row) at table rows `rows`, for n batch rows.
FeatureColumn gather_rows(const FeatureColumn& all, const std::vector<int64_t>& rows, int64_t n) {
  FeatureColumn out;
  out.name = all.name;
  out.categorical = all.categorical;
  out.list = all.list;
  if (out.list) {
    out.offsets.reserve(static_cast<size_t>(n) + 1);
    out.offsets.push_back(0);
  } else if (out.categorical) {
    out.ids.resize(static_cast<size_t>(n));
  } else {
    out.values.resize(static_cast<size_t>(n));
  }
  for (int64_t r = 0; r < n; ++r) {
    const int64_t at = rows[rows.size() == 1 ? 0 : static_cast<size_t>(r)];
    if (out.list) {
      out.ids.insert(out.ids.end(), all.ids.begin() + all.offsets[at],
                     all.ids.begin() + all.offsets[at + 1]);
      out.offsets.push_back(static_cast<int64_t>(out.ids.size()));
    } else if (out.categorical) {
      out.ids[r] = all.ids[at];
    } else {
      out.values[r] = all.values[at];
    }
  }
  return out;
}
}  // namespace

FeatureColumn FeatureTransform::compute(const FeatureOp& op, const RawBatch& batch,
                                        int64_t n) const {
  FeatureColumn column;
  column.name = op.name;
  column.categorical = op.categorical;
  column.list = op.list;
  if (column.list) column.offsets.push_back(0);
  std::vector<const RawColumn*> inputs;
  bool broadcast = n > 1;
  for (const auto& name : op.inputs) {
    inputs.push_back(&batch.at(name));
    broadcast = broadcast && inputs.back()->rows == 1;
  }
  if (broadcast) {  // one value for every row: compute it once
    op.append(inputs, 0, column);
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
    for (int64_t r = 0; r < n; ++r) op.append(inputs, r, column);
  }
  return column;
}

bool FeatureTransform::compute(size_t i, const RawBatch& columns, FeatureColumn& out) const {
  const FeatureOp& op = *ops_.at(i);
  for (size_t j = 0; j < op.inputs.size(); ++j) {
    auto it = columns.find(op.inputs[j]);
    if (it == columns.end() || it->second.type != op.input_types[j]) return false;
  }
  out = compute(op, columns, batch_rows(columns, op.inputs));
  return true;
}

ModelInputs FeatureTransform::transform(const RawBatch& batch,
                                        const std::vector<KnownFeatures>& known) const {
  // each feature's precomputed column and table rows, where a side table knows it
  std::vector<std::pair<const FeatureColumn*, const std::vector<int64_t>*>> gathered(ops_.size());
  std::vector<std::string> required;  // what the computed features read, and the tables' keys
  for (const auto& table : known) {
    for (const auto& [i, column] : *table.features) gathered.at(i) = {&column, &table.rows};
    add_once(required, table.key);
  }
  for (size_t i = 0; i < ops_.size(); ++i) {
    if (!gathered[i].first) {
      for (const auto& name : ops_[i]->inputs) add_once(required, name);
    }
  }
  check(batch, required);
  ModelInputs out;
  out.rows = batch_rows(batch, required);
  for (const auto& table : known) {
    SHOPRANK_EXPECTS(table.rows.size() == 1 || int64_t(table.rows.size()) == out.rows,
                     "side table rows for \"", table.key, "\": ", table.rows.size(),
                     " for ", out.rows, " batch rows");
  }
  out.features.reserve(ops_.size());
  for (size_t i = 0; i < ops_.size(); ++i) {
    const auto [column, rows] = gathered[i];
    out.features.push_back(column ? gather_rows(*column, *rows, out.rows)
                                  : compute(*ops_[i], batch, out.rows));
  }
  return out;
}

}  // namespace shoprank
