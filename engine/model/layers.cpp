#include "shoprank/model/layers.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "shoprank/errors.h"
#include "shoprank/model/panel_gemm.h"

namespace shoprank::model {

Activation parse_activation(const std::string& name, const std::string& where) {
  if (name == "linear" || name.empty()) return Activation::Linear;
  if (name == "relu") return Activation::Relu;
  if (name == "sigmoid") return Activation::Sigmoid;
  if (name == "tanh") return Activation::Tanh;
  detail::throw_invalid(where, ": unsupported activation \"", name, "\"");
}

namespace {
void apply(Activation a, float* y, int64_t n) {
  if (a == Activation::Relu) {
    for (int64_t j = 0; j < n; ++j) y[j] = std::max(y[j], 0.0f);
  } else if (a == Activation::Sigmoid) {
    for (int64_t j = 0; j < n; ++j) y[j] = 1.0f / (1.0f + std::exp(-y[j]));
  } else if (a == Activation::Tanh) {
    for (int64_t j = 0; j < n; ++j) y[j] = std::tanh(y[j]);
  }
}

// y = x . kernel + bias, without the activation.
void affine(const Dense& layer, const float* x, int64_t x_stride, int64_t rows, float* y) {
  SHOPRANK_EXPECTS(layer.panels, "a dense layer used before pack()");
  panel_gemm(x, x_stride, rows, layer.in, layer.panels->data(), layer.panel_bias->data(),
             layer.out, y, layer.out);
}
}  // namespace

void Dense::pack() {
  panels = std::make_shared<const std::vector<float>>(pack_panels(kernel, in, out));
  panel_bias = std::make_shared<const std::vector<float>>(pack_bias(bias, out));
}

void dense_forward(const Dense& layer, const float* x, int64_t x_stride, int64_t rows, float* y) {
  affine(layer, x, x_stride, rows, y);
  apply(layer.activation, y, rows * layer.out);
}

void dot_interaction(const float* const* vectors, int64_t count, int64_t dim,
                     std::vector<float>& scratch, float* out) {
  const int64_t padded = panel_count(count) * kPanel;
  // The panels' padding columns must be zero, and only valid panel entries are ever
  // written: size the scratch (zeroed) once, then reuse it as is.
  const auto size = static_cast<size_t>(count * dim + padded * dim + padded + count * padded);
  if (scratch.size() != size) scratch.assign(size, 0.0f);
  float* v = scratch.data();              // count x dim
  float* panels = v + count * dim;        // V^T as panels: panel p, row d, column c = v_{16p+c}[d]
  const float* zero_bias = panels + padded * dim;
  float* gram = panels + padded * dim + padded;  // count x padded
  for (int64_t i = 0; i < count; ++i) {
    copy_floats(vectors[i], dim, v + i * dim);
    float* column = panels + (i / kPanel) * dim * kPanel + i % kPanel;
    for (int64_t d = 0; d < dim; ++d) column[d * kPanel] = vectors[i][d];
  }
  // all `padded` columns: whole panels store straight from registers (the zero padding
  // columns of the Gram are never read)
  panel_gemm(v, dim, count, dim, panels, zero_bias, padded, gram, padded);
  for (int64_t i = 0; i < count; ++i) {
    copy_floats(gram + i * padded + i + 1, count - i - 1, out);
    out += count - i - 1;
  }
}

void cross_forward(const Dense& layer, const float* x0, const float* xl, int64_t rows, float* out) {
  affine(layer, xl, layer.out, rows, out);
  for (int64_t i = 0; i < rows * layer.out; ++i) out[i] = x0[i] * out[i] + xl[i];
}

}  // namespace shoprank::model
