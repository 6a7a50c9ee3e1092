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
// A tile of 4 rows x 16 outputs is accumulated in registers over the whole input, so each
// kernel value loaded feeds 4 FMAs and y is written once (the loop over j vectorises).
constexpr int64_t kTileRows = 4, kTileCols = 16;

void apply(Activation a, float* y, int64_t n) {
  if (a == Activation::Relu) {
    for (int64_t j = 0; j < n; ++j) y[j] = std::max(y[j], 0.0f);
  } else if (a == Activation::Sigmoid) {
    for (int64_t j = 0; j < n; ++j) y[j] = 1.0f / (1.0f + std::exp(-y[j]));
  } else if (a == Activation::Tanh) {
    for (int64_t j = 0; j < n; ++j) y[j] = std::tanh(y[j]);
  }
}

// The full tile: fixed trip counts the compiler keeps in vector registers.
void full_tile(const Dense& layer, const float* x, int64_t x_stride, int64_t j0,
               float (&acc)[kTileRows][kTileCols]) {
  const float* x0 = x;
  const float* x1 = x + x_stride;
  const float* x2 = x + 2 * x_stride;
  const float* x3 = x + 3 * x_stride;
  for (int64_t k = 0; k < layer.in; ++k) {
    const float* w = layer.kernel + k * layer.out + j0;
    const float a0 = x0[k], a1 = x1[k], a2 = x2[k], a3 = x3[k];
    for (int64_t j = 0; j < kTileCols; ++j) {
      acc[0][j] += a0 * w[j];
      acc[1][j] += a1 * w[j];
      acc[2][j] += a2 * w[j];
      acc[3][j] += a3 * w[j];
    }
  }
}

// An edge tile (fewer rows or outputs).
void edge_tile(const Dense& layer, const float* x, int64_t x_stride, int64_t j0, int64_t rows,
               int64_t cols, float (&acc)[kTileRows][kTileCols]) {
  for (int64_t k = 0; k < layer.in; ++k) {
    const float* w = layer.kernel + k * layer.out + j0;
    for (int64_t b = 0; b < rows; ++b) {
      const float a = x[b * x_stride + k];
      for (int64_t j = 0; j < cols; ++j) acc[b][j] += a * w[j];
    }
  }
}
}  // namespace

void dense_forward(const Dense& layer, const float* x, int64_t x_stride, int64_t rows, float* y) {
  const int64_t out = layer.out;
  for (int64_t r0 = 0; r0 < rows; r0 += kTileRows) {
    const int64_t block = std::min(kTileRows, rows - r0);
    for (int64_t j0 = 0; j0 < out; j0 += kTileCols) {
      const int64_t cols = std::min(kTileCols, out - j0);
      float acc[kTileRows][kTileCols] = {};
      if (block == kTileRows && cols == kTileCols) {
        full_tile(layer, x + r0 * x_stride, x_stride, j0, acc);
      } else {
        edge_tile(layer, x + r0 * x_stride, x_stride, j0, block, cols, acc);
      }
      for (int64_t b = 0; b < block; ++b) {
        float* yr = y + (r0 + b) * out + j0;
        for (int64_t j = 0; j < cols; ++j) yr[j] = acc[b][j] + (layer.bias ? layer.bias[j0 + j] : 0.0f);
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
