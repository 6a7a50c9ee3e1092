// One fitted operator per model feature (private to engine/transform). Each computes one
// batch row from its raw input columns; FeatureTransform loops over rows and broadcasts.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "shoprank/io/json.h"
#include "shoprank/io/tensor_file.h"
#include "shoprank/transform/feature_transform.h"

namespace shoprank {

class FeatureOp {
 public:
  virtual ~FeatureOp() = default;
  // Appends row r's value (ids, a list of ids and its end offset, or a value) to out.
  virtual void append(const std::vector<const RawColumn*>& inputs, int64_t r,
                      FeatureColumn& out) const = 0;

  std::string name;
  std::vector<std::string> inputs;
  std::vector<InputType> input_types;  // what each input must be
  bool categorical = true;
  bool list = false;
};

// The operator of one ranker.json "features" entry; `types` are the declared input types.
std::unique_ptr<FeatureOp> make_feature_op(const json::Value& feature, const TensorFile& tensors,
                                           const std::map<std::string, InputType>& types);

// pandas' hash_array of one text value: mix64(SipHash-2-4 with pandas' key).
uint64_t pandas_text_hash(std::string_view text);

}  // namespace shoprank
