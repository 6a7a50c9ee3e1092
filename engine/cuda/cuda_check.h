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
