#include "shoprank/model/panel_gemm.h"

#include <algorithm>
#include <cstring>

namespace shoprank::model {

namespace {
// GCC/Clang vector extension: AVX registers where the target has them, pairs of SSE
// registers otherwise; no intrinsics, so the file builds for any x86-64 or ARM target.
typedef float Vec8 __attribute__((vector_size(32)));

inline Vec8 load(const float* p) {
  Vec8 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void store(float* p, Vec8 v) { std::memcpy(p, &v, sizeof v); }

// R rows x one panel; `cols` < kPanel stores only the first cols outputs.
template <int R>
void tile(const float* x, int64_t x_stride, int64_t in, const float* panel, const float* bias,
          float* y, int64_t y_stride, int64_t cols) {
  Vec8 acc[R][2];
  for (int r = 0; r < R; ++r) {
    acc[r][0] = load(bias);
    acc[r][1] = load(bias + 8);
  }
  for (int64_t k = 0; k < in; ++k) {
    const Vec8 w0 = load(panel + k * kPanel), w1 = load(panel + k * kPanel + 8);
    for (int r = 0; r < R; ++r) {
      const float a = x[r * x_stride + k];
      acc[r][0] += a * w0;
      acc[r][1] += a * w1;
    }
  }
  for (int r = 0; r < R; ++r) {
    float* yr = y + r * y_stride;
    if (cols == kPanel) {
      store(yr, acc[r][0]);
      store(yr + 8, acc[r][1]);
    } else {
      float full[kPanel];
      store(full, acc[r][0]);
      store(full + 8, acc[r][1]);
      std::copy(full, full + cols, yr);
    }
  }
}

template <int R>
void row_tile(const float* x, int64_t x_stride, int64_t in, const float* panels,
              const float* bias, int64_t out, float* y, int64_t y_stride) {
  for (int64_t p = 0; p < panel_count(out); ++p) {
    tile<R>(x, x_stride, in, panels + p * in * kPanel, bias + p * kPanel, y + p * kPanel,
            y_stride, std::min(kPanel, out - p * kPanel));
  }
}
}  // namespace

std::vector<float> pack_panels(const float* w, int64_t in, int64_t out) {
  std::vector<float> panels(static_cast<size_t>(panel_count(out) * in * kPanel), 0.0f);
  for (int64_t k = 0; k < in; ++k) {
    for (int64_t j = 0; j < out; ++j) {
      panels[(j / kPanel) * in * kPanel + k * kPanel + j % kPanel] = w[k * out + j];
    }
  }
  return panels;
}

std::vector<float> pack_bias(const float* bias, int64_t out) {
  std::vector<float> padded(static_cast<size_t>(panel_count(out) * kPanel), 0.0f);
  if (bias) std::copy(bias, bias + out, padded.begin());
  return padded;
}

void panel_gemm(const float* x, int64_t x_stride, int64_t rows, int64_t in, const float* panels,
                const float* bias, int64_t out, float* y, int64_t y_stride) {
  int64_t r = 0;
  for (; r + kTileRows <= rows; r += kTileRows) {
    row_tile<kTileRows>(x + r * x_stride, x_stride, in, panels, bias, out, y + r * y_stride,
                        y_stride);
  }
  const float* xr = x + r * x_stride;
  float* yr = y + r * y_stride;
  switch (rows - r) {  // the last rows: a tile of their own height
    case 5: row_tile<5>(xr, x_stride, in, panels, bias, out, yr, y_stride); break;
    case 4: row_tile<4>(xr, x_stride, in, panels, bias, out, yr, y_stride); break;
    case 3: row_tile<3>(xr, x_stride, in, panels, bias, out, yr, y_stride); break;
    case 2: row_tile<2>(xr, x_stride, in, panels, bias, out, yr, y_stride); break;
    case 1: row_tile<1>(xr, x_stride, in, panels, bias, out, yr, y_stride); break;
    default: break;
  }
}

}  // namespace shoprank::model
