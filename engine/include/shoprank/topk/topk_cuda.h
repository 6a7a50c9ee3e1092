// Top-k selection on a CUDA device. Every pointer is device memory; the calls are
// asynchronous on `stream` (0: the default stream). When the engine was built without
// CUDA, or no device is present, they throw shoprank::DeviceError.
#pragma once

#include <cstdint>
#include <optional>

#include "shoprank/views.h"

namespace shoprank::cuda {

// Largest k the device kernels select (their final sort runs in shared memory).
constexpr int64_t kMaxK = 1024;

bool built_with_cuda();
int device_count();  // 0 when built without CUDA or no driver/device

void topk(ConstMatrixView<float> scores, int64_t k, std::optional<CsrView> exclude,
          MatrixView<float> out_values, MatrixView<int64_t> out_indices, std::uintptr_t stream = 0);

void topk_inner_product(ConstMatrixView<float> queries, ConstMatrixView<float> items, int64_t k,
                        std::optional<CsrView> exclude, MatrixView<float> out_values,
                        MatrixView<int64_t> out_indices, std::uintptr_t stream = 0);

}  // namespace shoprank::cuda
