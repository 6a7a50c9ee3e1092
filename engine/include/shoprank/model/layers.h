// The numeric building blocks of the DLRM and DCN-v2 forward pass, on row-major float32
// batches. Each has a NumPy counterpart in python/shoprank/reference/forward.py.
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace shoprank::model {

enum class Activation { Linear, Relu, Sigmoid, Tanh };
Activation parse_activation(const std::string& name, const std::string& where);

// A Keras Dense layer: kernel (in x out, row-major as Keras stores it), bias (out) or null,
// both pointing into the artifact's tensors; pack() adds the CPU's panel layout of them
// (panel_gemm.h), shared by copies of the layer.
struct Dense {
  const float* kernel = nullptr;
  const float* bias = nullptr;
  int64_t in = 0;
  int64_t out = 0;
  Activation activation = Activation::Linear;
  std::shared_ptr<const std::vector<float>> panels, panel_bias;
  std::shared_ptr<const std::vector<float>> widened;  // the kernel, stored at fp16 / bf16

  void pack();
};

// y (rows x out) = activation(x (rows x in, row stride x_stride) . kernel + bias); needs pack().
void dense_forward(const Dense& layer, const float* x, int64_t x_stride, int64_t rows, float* y);

// Copies n floats. A copy of a width known only at run time is otherwise a memmove call,
// and the forward makes a few dozen per row of 16-float vectors (15% of its time).
inline void copy_floats(const float* src, int64_t n, float* dst) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) std::memcpy(dst + i, src + i, 8 * sizeof(float));
  for (; i < n; ++i) dst[i] = src[i];
}

// DLRM dot interaction of one row's `count` vectors of `dim` values: out gets <v_i, v_j> for
// every pair i < j, row-major (count * (count - 1) / 2 values), each summed in order of d
// as in the CUDA kernel. It is the Gram matrix V . V^T through panel_gemm, V^T packed as
// panels; `scratch` is resized and reused across calls.
void dot_interaction(const float* const* vectors, int64_t count, int64_t dim,
                     std::vector<float>& scratch, float* out);

// DCN-v2 cross layer: out = x0 * (xl . kernel + bias) + xl, all (rows x width); needs pack().
// out is written before x0 and xl are read in full: it must be a buffer of its own.
void cross_forward(const Dense& layer, const float* x0, const float* xl, int64_t rows, float* out);

}  // namespace shoprank::model
