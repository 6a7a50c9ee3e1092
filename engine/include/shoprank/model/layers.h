// The numeric building blocks of the DLRM and DCN-v2 forward pass, on row-major float32
// batches. Each has a NumPy counterpart in python/shoprank/ranker/forward_spec.py.
#pragma once

#include <cstdint>
#include <string>

namespace shoprank::model {

enum class Activation { Linear, Relu, Sigmoid, Tanh };
Activation parse_activation(const std::string& name, const std::string& where);

// A Keras Dense layer: kernel (in x out, row-major as Keras stores it), bias (out) or null.
struct Dense {
  const float* kernel = nullptr;
  const float* bias = nullptr;
  int64_t in = 0;
  int64_t out = 0;
  Activation activation = Activation::Linear;
};

// y (rows x out) = activation(x (rows x in, row stride x_stride) . kernel + bias).
void dense_forward(const Dense& layer, const float* x, int64_t x_stride, int64_t rows, float* y);

// DCN-v2 cross layer: out = x0 * (xl . kernel + bias) + xl, all (rows x width).
void cross_forward(const Dense& layer, const float* x0, const float* xl, int64_t rows, float* out);

}  // namespace shoprank::model
