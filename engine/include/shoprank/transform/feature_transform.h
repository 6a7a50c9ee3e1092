// The fitted NVTabular Workflow applied natively: raw request columns in, the model's input
// features out, exactly as python/shoprank/ranker/transform_spec.py's reference (and so
// NVTabular) computes them. Built from ranker.json's "features" and "inputs".
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "shoprank/io/json.h"
#include "shoprank/io/tensor_file.h"
#include "shoprank/transform/raw_batch.h"

namespace shoprank {

// One transformed feature over a batch.
struct FeatureColumn {
  std::string name;
  bool categorical = true;
  bool list = false;
  std::vector<int32_t> ids;      // categorical: one per row, or every element of a list feature
  std::vector<int64_t> offsets;  // list: rows + 1
  std::vector<float> values;     // continuous: one per row
};

struct ModelInputs {
  int64_t rows = 0;
  std::vector<FeatureColumn> features;  // in ranker.json's feature order
};

struct InputSpec {
  std::string name;
  InputType type = InputType::Int64;
  std::string table;  // the side table that can supply it, or empty
};

class FeatureOp;  // one feature's fitted operator (feature_ops.h)

class FeatureTransform {
 public:
  FeatureTransform(const json::Value& ranker, const TensorFile& tensors);
  ~FeatureTransform();
  FeatureTransform(FeatureTransform&&) noexcept;

  const std::vector<InputSpec>& inputs() const { return inputs_; }
  const std::vector<std::string>& feature_names() const { return names_; }
  // The raw columns the features read (a subset of inputs()).
  const std::vector<std::string>& required() const { return required_; }

  // Checks types and lengths of every column the features read; errors name the column.
  void check(const RawBatch& batch) const;
  // The model inputs of every batch row (checks first).
  ModelInputs transform(const RawBatch& batch) const;

 private:
  std::vector<InputSpec> inputs_;
  std::vector<std::string> names_, required_;
  std::vector<std::unique_ptr<FeatureOp>> ops_;
};

}  // namespace shoprank
