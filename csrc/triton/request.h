// A ranking request as the Triton `ranker` model receives it, read into the engine's
// RawBatch. The layout is python/shoprank/serving/wire.py's (the client and the ensemble's
// Python steps speak it too): one query per request, every tensor shaped [1, n]; a raw
// column NAME as INT64 / FP64 / BYTES; a string_list column as its flat BYTES elements
// plus NAME__lengths (INT64, one count per row); k as INT64 [1, 1].
//
// Nothing here calls Triton: the backend (backend.cpp) hands over each tensor's bytes.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "shoprank/transform/feature_transform.h"
#include "shoprank/transform/raw_batch.h"

namespace shoprank::triton {

enum class WireType { Int64, Fp64, Bytes, Other };

struct WireTensor {
  WireType type = WireType::Other;
  std::vector<int64_t> shape;
  const char* data = nullptr;  // the tensor's bytes, contiguous, in host memory
  uint64_t bytes = 0;
};

struct RankRequest {
  RawBatch batch;
  int64_t k = 0;
  int64_t candidates = 0;          // the longest column's length
  std::vector<int64_t> item_ids;   // the item key column when sent one per candidate, else empty
};

struct RequestRules {
  std::vector<InputSpec> inputs;   // the raw columns the ranker reads
  std::string item_key;            // the column whose values name the candidates, or empty
  int64_t max_candidates = 0;      // 0: no limit
};

// Reads and checks one request's tensors ({name: tensor}; unknown names were refused by
// Triton already). Bad input throws std::invalid_argument naming the tensor at fault.
RankRequest read_request(const RequestRules& rules,
                         const std::map<std::string, WireTensor>& tensors);

}  // namespace shoprank::triton
