// One ranking request as tensors, read and checked in one place for every entry point: the
// `ranker` Triton backend (csrc/triton), the ensemble's Python-backend steps and
// shoprank._engine's request readers (csrc/request.cpp). Clients write the layout with
// python/shoprank/serving/wire.py.
//
// One query per request, every tensor shaped [1, n]:
//   raw column NAME     NAME: n = candidates (one value each) or n = 1 (one value for the
//                       request, the user's, given to every candidate); int64 and
//                       timestamp_ms as INT64, float64 as FP64, string as BYTES (UTF-8)
//   string_list NAME    NAME: BYTES [1, elements], every row's elements one after another,
//                       and NAME__lengths: INT64 [1, rows], each row's element count
//   nulls               NAME__null_rows: INT64 [1, m], optional: the rows of NAME that are
//                       null (their values in NAME are placeholders, ignored)
//   k                   INT64 [1, 1]: how many items to return
// Between the ensemble's steps: model feature F as feature__F (INT32 ids or FP32 values;
// a list feature's ids [1, elements] plus feature__F__offsets INT64 [1, rows + 1]) and the
// scores as candidate_scores (FP32 [1, rows]).
//
// Nothing here calls Triton or Python: the caller hands over each tensor's bytes. Bad input
// throws std::invalid_argument naming the tensor and the rule.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "shoprank/transform/feature_transform.h"
#include "shoprank/transform/raw_batch.h"

namespace shoprank {

enum class WireType { Int32, Int64, Fp32, Fp64, Bytes, Other };

struct WireTensor {
  WireType type = WireType::Other;
  std::vector<int64_t> shape;
  const char* data = nullptr;  // the tensor's bytes, contiguous, in host memory
  uint64_t bytes = 0;
};

using WireTensors = std::map<std::string, WireTensor>;

namespace wire {
inline const std::string kLengths = "__lengths";
inline const std::string kNullRows = "__null_rows";
inline const std::string kK = "k";
inline const std::string kFeature = "feature__";
inline const std::string kOffsets = "__offsets";
inline const std::string kCandidateScores = "candidate_scores";
}  // namespace wire

struct RequestRules {
  std::vector<InputSpec> inputs;  // the raw columns the ranker reads
  std::string item_key;           // the column whose values name the candidates, or empty
  int64_t max_candidates = 0;     // 0: no limit
};

struct RankRequest {
  RawBatch batch;
  int64_t candidates = 0;          // the longest column's length
  int64_t k = 0;                   // 0 when read without k (the ensemble's transform step)
  std::vector<int64_t> item_ids;   // the item key column when sent one per candidate, else empty
  std::vector<std::string> item_texts;  // the same for a text item key
};

// The raw columns of `rules.inputs` the request carries (tensors of other names are left
// to the caller: Triton refuses them), the candidate count within max_candidates, and
// with_k: k, checked against the candidates.
RankRequest read_request(const RequestRules& rules, const WireTensors& tensors,
                         bool with_k = true);

// The model features (feature__F tensors) of the ensemble's score step, in `names`' order.
ModelInputs read_features(const std::vector<std::string>& names, const WireTensors& tensors);

// The select step's request: candidate_scores, k (checked) and the item key's values.
struct ScoredRequest {
  std::vector<float> scores;
  int64_t k = 0;
  std::vector<int64_t> item_ids;  // one per candidate, or empty (the answer names rows)
  std::vector<std::string> item_texts;  // the same for a text item key
};
ScoredRequest read_scored(const std::string& item_key, const WireTensors& tensors);

// Readers of single tensors, for the requests built on this layout (recommend_request.h).
// One raw column [1, n] of `type` (a list column with its NAME__lengths).
RawColumn read_column(const std::string& name, InputType type, const WireTensors& tensors);
// A required [1, n] tensor of int64 / float32 values.
std::vector<int64_t> read_int64s(const std::string& name, const WireTensors& tensors);
std::vector<float> read_floats(const std::string& name, const WireTensors& tensors);
// An optional one-value tensor ([1, 1]): nullopt when the request does not carry it.
std::optional<int64_t> read_one_int64(const std::string& name, const WireTensors& tensors);
std::optional<float> read_one_float(const std::string& name, const WireTensors& tensors);

// k's rule, for every entry point: 1 <= k <= candidates, and candidates to rank at all.
void check_k(int64_t k, int64_t candidates);

}  // namespace shoprank
