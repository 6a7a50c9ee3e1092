// The CPU matrix product under every dense layer and the DLRM dot interaction:
// y (rows x out) = x (rows x in) . W (in x out) [+ bias], with W laid out as panels of
// kPanel outputs, each panel (in x kPanel) contiguous and zero-padded past `out`. A tile of
// kTileRows rows x one panel is accumulated in vector registers over the whole input, so
// each panel row loaded feeds kTileRows fused multiply-adds, and y is written once. Each
// output is summed in order of k, starting from its bias.
#pragma once

#include <cstdint>
#include <vector>

namespace shoprank::model {

constexpr int64_t kPanel = 16;     // outputs per panel: two 8-float vectors
constexpr int64_t kTileRows = 6;   // 12 accumulators + 2 panel vectors fit 16 AVX registers

inline int64_t panel_count(int64_t out) { return (out + kPanel - 1) / kPanel; }

// W (in x out, row-major) as panels: panel_count(out) * in * kPanel values.
std::vector<float> pack_panels(const float* w, int64_t in, int64_t out);
// A bias (out values, or null for none) padded to panel_count(out) * kPanel.
std::vector<float> pack_bias(const float* bias, int64_t out);

// bias: panel-padded (pack_bias). x rows are x_stride apart, y rows y_stride apart.
void panel_gemm(const float* x, int64_t x_stride, int64_t rows, int64_t in, const float* panels,
                const float* bias, int64_t out, float* y, int64_t y_stride);

}  // namespace shoprank::model
