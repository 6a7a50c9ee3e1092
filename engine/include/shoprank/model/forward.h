// The trained DLRM / DCN-v2 forward pass from ranker.json's "model" (the forward spec
// python/shoprank/export/forward.py extracts) and tensors.bin: fused embedding gather
// with list pooling, MLPs, the dot interaction or cross layers, the sigmoid head. Rows are
// scored in blocks, the blocks spread over threads; every row's result is independent of
// how rows are blocked or threaded.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "shoprank/io/json.h"
#include "shoprank/io/tensor_file.h"
#include "shoprank/model/forward_cuda.h"
#include "shoprank/model/layers.h"
#include "shoprank/transform/feature_transform.h"

namespace shoprank::model {

class Forward {
 public:
  // feature_names: the transform's output order, to find each model input in ModelInputs.
  Forward(const json::Value& model, const TensorFile& tensors,
          const std::vector<std::string>& feature_names);

  const std::string& architecture() const { return architecture_; }
  // The forward pass: click probabilities of every row of model features (the transform's
  // output); ids outside a feature's table are an error.
  std::vector<float> run(const ModelInputs& inputs, int threads) const;
  // Throws when an id falls outside its feature's rows or a feature has the wrong shape.
  void check_ids(const ModelInputs& inputs) const;
  // The embedding table as float32 rows (an fp16 / int8 table widened): the device copy's.
  std::vector<float> table_floats() const;
  // A model with a linear part: its output layer reads concat(body, linear logit).
  bool has_linear() const { return linear_table_ != nullptr; }
  // The linear part's logits of rows [first, first + rows) into out (ids checked first).
  void linear_logits(const ModelInputs& inputs, int64_t first, int64_t rows, float* out) const;

 private:
  friend struct ForwardCuda::Impl;  // the device copy reads the same plan
  struct Embedded {      // one categorical model input
    int feature = 0;     // index into ModelInputs::features
    int64_t offset = 0, cardinality = 0;
    bool list = false;
  };
  // A piece of a concatenation: an embedding (index into embedded_), a continuous value
  // (index into continuous_), or a named block output.
  struct Piece {
    enum Kind { Embedding, Continuous, BottomMlp, Interaction, Cross, Deep } kind = Embedding;
    int index = 0;
  };

  // ranker.json's model, read in parts: the embedding table and the features it embeds,
  // the continuous features; then each architecture's layers (returning the width the
  // output layer takes).
  void read_inputs(const json::Value& model, const TensorFile& tensors,
                   const std::vector<std::string>& feature_names);
  Piece input_piece(const json::Value& v) const;
  int64_t read_dlrm(const json::Value& model, const TensorFile& tensors);
  int64_t read_dcn(const json::Value& model, const TensorFile& tensors);
  void read_linear(const json::Value& linear, const TensorFile& tensors);

  void score_block(const ModelInputs& inputs, int64_t first, int64_t rows, float* out) const;
  void embed(const ModelInputs& inputs, int64_t first, int64_t rows, std::vector<float>& out) const;
  std::vector<float> mlp(const std::vector<Dense>& layers, std::vector<float> x, int64_t rows) const;
  // Row `row` of the table into dst (set) or onto it (add); fp16 / int8 rows widened.
  void copy_row(int64_t row, float* dst) const;
  void add_row(int64_t row, float* dst) const;

  std::string architecture_;
  const float* table_ = nullptr;          // a float32 table, or
  const uint16_t* halves_ = nullptr;      // a float16 one, or
  const uint8_t* codes_ = nullptr;        // an int8 one: row r is low + scale * code, with
  const uint16_t *scale_ = nullptr, *low_ = nullptr;  // each row's half-precision scale, low
  int64_t table_rows_ = 0, dim_ = 0;
  bool mean_pooling_ = true;
  std::vector<Embedded> embedded_;
  std::vector<int> continuous_;           // indices into ModelInputs::features, model order
  std::vector<std::string> embedded_names_, continuous_names_;  // model.json's names, in order
  std::vector<Dense> bottom_, top_, deep_, cross_;
  Dense output_;
  std::vector<Piece> vectors_;            // DLRM: what the dot interaction stacks, in order
  std::vector<Piece> top_input_;          // DLRM: the top MLP's input concatenation
  std::vector<Piece> x0_;                 // DCN: the input concatenation
  std::vector<Piece> parallel_concat_;    // DCN parallel: the branches' concatenation
  bool stacked_ = true;
  int64_t x0_width_ = 0, interaction_width_ = 0;
  // The linear part (python/shoprank/models/linear_part.py): one weight per row of its own
  // layout, pooled like the embeddings; a weight per continuous feature; the intercept.
  struct LinearTerm {
    int embedded = 0;    // index into embedded_: the same feature, its ids already checked
    int64_t offset = 0;  // into linear_table_
  };
  const float* linear_table_ = nullptr;
  const float* linear_kernel_ = nullptr;
  float linear_bias_ = 0.0f;
  bool linear_mean_ = true;
  std::vector<LinearTerm> linear_terms_;
  std::vector<int> linear_continuous_;    // indices into ModelInputs::features
};

}  // namespace shoprank::model
