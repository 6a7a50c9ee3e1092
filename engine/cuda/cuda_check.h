// CUDA runtime calls checked: a failure throws shoprank::DeviceError naming the call.
#pragma once

#include <cuda_runtime.h>

#include <string>

#include "shoprank/errors.h"

namespace shoprank::detail {
inline void check_cuda(cudaError_t status, const char* what) {
  if (status != cudaSuccess)
    throw DeviceError(std::string("CUDA error in ") + what + ": " + cudaGetErrorString(status));
}
}  // namespace shoprank::detail

#define SHOPRANK_CUDA_CHECK(call) ::shoprank::detail::check_cuda((call), #call)

namespace shoprank::detail {
// The current device's multiprocessors (how many blocks a persistent grid wants).
inline int multiprocessor_count() {
  int device = 0, count = 0;
  SHOPRANK_CUDA_CHECK(cudaGetDevice(&device));
  SHOPRANK_CUDA_CHECK(cudaDeviceGetAttribute(&count, cudaDevAttrMultiProcessorCount, device));
  return count;
}
}  // namespace shoprank::detail
