// The DLRM / DCN-v2 forward pass (model/forward.h) on a CUDA device, and selection there:
// the weights are uploaded once; each call copies its transformed inputs over, runs the
// embedding gather and pooling, MLPs, dot interaction or cross layers and the sigmoid head
// on a stream of its own, and for rank() selects the top k on the device (topk/topk_cuda.h).
// Built without CUDA, or with no device, the constructor throws shoprank::DeviceError.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "shoprank/transform/feature_transform.h"

namespace shoprank::model {

class Forward;

class ForwardCuda {
 public:
  explicit ForwardCuda(const Forward& forward);
  ~ForwardCuda();
  ForwardCuda(const ForwardCuda&) = delete;
  ForwardCuda& operator=(const ForwardCuda&) = delete;

  // Click probabilities of every row (the same checks as Forward::run first).
  std::vector<float> run(const ModelInputs& inputs) const;
  // The k best rows and their scores, best first, ties to the lower row.
  void rank(const ModelInputs& inputs, int64_t k, std::vector<int64_t>& rows,
            std::vector<float>& scores) const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace shoprank::model
