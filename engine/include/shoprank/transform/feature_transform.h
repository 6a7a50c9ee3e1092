// The fitted NVTabular Workflow applied natively: raw request columns in, the model's input
// features out, exactly as python/shoprank/reference/transform.py (and so
// NVTabular) computes them. Built from ranker.json's "features" and "inputs".
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
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

// Features computed ahead for every row of a side table (side_tables.h), and the table row
// of each batch row (one row: the same for every batch row): the transform gathers these
// features instead of computing them again.
struct KnownFeatures {
  std::string key;                                             // the table's key column
  const std::vector<std::pair<size_t, FeatureColumn>>* features;  // (feature index, every row)
  std::vector<int64_t> rows;
};

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
  // The raw columns feature i reads.
  const std::vector<std::string>& feature_inputs(size_t i) const;
  // The model inputs of every batch row (checks first); features in `known` are gathered
  // from their table rows, so the batch need not carry their inputs.
  ModelInputs transform(const RawBatch& batch, const std::vector<KnownFeatures>& known = {}) const;
  // Feature i of every row of `columns`, or false when they lack one of its inputs or have
  // it with another type (for computing a side table's features ahead).
  bool compute(size_t i, const RawBatch& columns, FeatureColumn& out) const;

 private:
  std::vector<InputSpec> inputs_;
  std::vector<std::string> names_, required_;
  std::vector<std::unique_ptr<FeatureOp>> ops_;

  void check(const RawBatch& batch, const std::vector<std::string>& required) const;
  FeatureColumn compute(const FeatureOp& op, const RawBatch& batch, int64_t rows) const;
};

}  // namespace shoprank
