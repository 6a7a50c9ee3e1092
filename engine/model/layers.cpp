#include "shoprank/model/layers.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "shoprank/errors.h"

namespace shoprank::model {

Activation parse_activation(const std::string& name, const std::string& where) {
  if (name == "linear" || name.empty()) return Activation::Linear;
  if (name == "relu") return Activation::Relu;
  if (name == "sigmoid") return Activation::Sigmoid;
  if (name == "tanh") return Activation::Tanh;
  detail::throw_invalid(where, ": unsupported activation \"", name, "\"");
}

namespace {
// Four rows at a time share each kernel row load; the inner loop over outputs vectorises.
constexpr int64_t kRowBlock = 4;

void apply(Activation a, float* y, int64_t n) {
  if (a == Activation::Relu) {
    for (int64_t j = 0; j < n; ++j) y[j] = std::max(y[j], 0.0f);
  } else if (a == Activation::Sigmoid) {
    for (int64_t j = 0; j < n; ++j) y[j] = 1.0f / (1.0f + std::exp(-y[j]));
  } else if (a == Activation::Tanh) {
    for (int64_t j = 0; j < n; ++j) y[j] = std::tanh(y[j]);
  }
}
}  // namespace

void dense_forward(const Dense& layer, const float* x, int64_t x_stride, int64_t rows, float* y) {
  const int64_t in = layer.in, out = layer.out;
  for (int64_t r0 = 0; r0 < rows; r0 += kRowBlock) {
    const int64_t block = std::min(kRowBlock, rows - r0);
    for (int64_t b = 0; b < block; ++b) {
      float* yr = y + (r0 + b) * out;
      if (layer.bias) std::copy(layer.bias, layer.bias + out, yr);
      else std::fill(yr, yr + out, 0.0f);
    }
    for (int64_t k = 0; k < in; ++k) {
      const float* w = layer.kernel + k * out;
      for (int64_t b = 0; b < block; ++b) {
        const float xv = x[(r0 + b) * x_stride + k];
        if (xv == 0.0f) continue;  // ReLU outputs are often zero
        float* __restrict yr = y + (r0 + b) * out;
        for (int64_t j = 0; j < out; ++j) yr[j] += xv * w[j];
      }
    }
    for (int64_t b = 0; b < block; ++b) apply(layer.activation, y + (r0 + b) * out, out);
  }
}

void cross_forward(const Dense& layer, const float* x0, const float* xl, int64_t rows, float* out) {
  const int64_t width = layer.out;
  std::vector<float> projected(static_cast<size_t>(rows * width));
  Dense linear = layer;
  linear.activation = Activation::Linear;
  dense_forward(linear, xl, width, rows, projected.data());
  for (int64_t i = 0; i < rows * width; ++i) out[i] = x0[i] * projected[i] + xl[i];
}

}  // namespace shoprank::model
