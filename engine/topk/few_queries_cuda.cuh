// Step 1 of the device top-k for a handful of queries (at most kFewQueries, dimension at
// most kFewMaxDim): then the work is reading the items once, and the tiles' 16 query rows
// would mostly be padding. One warp per item row at a time: the lanes read the row's
// dimensions side by side (coalesced), multiply by the queries held in registers (float32
// FMA), and sum across the warp; each lane keeps one of 32 rows' scores and offers it.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "cuda/cuda_check.h"
#include "row_state_cuda.cuh"

namespace shoprank::cuda {

constexpr int kFewQueries = 4, kFewMaxDim = 256;

// kQueries: query rows handled (the group's rows, padded); kPerLane: dimensions per lane.
template <int kQueries, int kPerLane>
__global__ void __launch_bounds__(256)
    filter_few_queries(const float* __restrict__ queries, const float* __restrict__ items,
                       int64_t dim, int64_t group_rows, int64_t row0, int64_t col0,
                       int64_t slab_cols, RowState state, DeviceExclusions excluded) {
  const int lane = threadIdx.x % 32;
  float q[kQueries][kPerLane];
#pragma unroll
  for (int qi = 0; qi < kQueries; ++qi)
#pragma unroll
    for (int i = 0; i < kPerLane; ++i) {
      const int64_t d = lane + 32 * i;
      q[qi][i] = qi < group_rows && d < dim ? queries[(row0 + qi) * dim + d] : 0.0f;
    }
  const int64_t warps = int64_t{gridDim.x} * (blockDim.x / 32);
  const int64_t first = (int64_t{blockIdx.x} * (blockDim.x / 32) + threadIdx.x / 32) * 32;
  for (int64_t base = first; base < slab_cols; base += warps * 32) {  // uniform per warp
    float mine[kQueries] = {};  // lane j: the score of row base + j
#pragma unroll 4
    for (int j = 0; j < 32; ++j) {
      const int64_t n = base + j;
      const float* row = items + (col0 + n) * dim;
      float part[kQueries] = {};
#pragma unroll
      for (int i = 0; i < kPerLane; ++i) {
        const int64_t d = lane + 32 * i;
        const float x = n < slab_cols && d < dim ? row[d] : 0.0f;
#pragma unroll
        for (int qi = 0; qi < kQueries; ++qi) part[qi] = fmaf(q[qi][i], x, part[qi]);
      }
#pragma unroll
      for (int qi = 0; qi < kQueries; ++qi) {
        float sum = part[qi];
#pragma unroll
        for (int offset = 16; offset > 0; offset /= 2)
          sum += __shfl_xor_sync(0xffffffffu, sum, offset);
        if (lane == j) mine[qi] = sum;
      }
    }
    const int64_t n = base + lane;
#pragma unroll
    for (int qi = 0; qi < kQueries; ++qi) {
      const bool row_valid = qi < group_rows;
      offer(state, row0, qi, row_valid ? state.thresholds[qi] : ~uint64_t{0}, mine[qi], col0 + n,
            row_valid && n < slab_cols, excluded);
    }
  }
}

template <int kQueries, int kPerLane>
void launch_few_queries(const float* queries, const float* items, int64_t dim, int64_t rows,
                        int64_t row0, int64_t col0, int64_t slab, const RowState& state,
                        const DeviceExclusions& excluded, cudaStream_t stream) {
  const int multiprocessors = detail::multiprocessor_count();
  const int64_t blocks = std::min<int64_t>((slab + 255) / 256, int64_t{8} * multiprocessors);
  filter_few_queries<kQueries, kPerLane><<<static_cast<unsigned>(blocks), 256, 0, stream>>>(
      queries, items, dim, rows, row0, col0, slab, state, excluded);
}

// rows <= kFewQueries and dim <= kFewMaxDim.
template <int kQueries>
void launch_few_queries(const float* queries, const float* items, int64_t dim, int64_t rows,
                        int64_t row0, int64_t col0, int64_t slab, const RowState& state,
                        const DeviceExclusions& excluded, cudaStream_t stream) {
  if (dim <= 64)
    launch_few_queries<kQueries, 2>(queries, items, dim, rows, row0, col0, slab, state,
                                    excluded, stream);
  else if (dim <= 128)
    launch_few_queries<kQueries, 4>(queries, items, dim, rows, row0, col0, slab, state,
                                    excluded, stream);
  else
    launch_few_queries<kQueries, 8>(queries, items, dim, rows, row0, col0, slab, state,
                                    excluded, stream);
}

}  // namespace shoprank::cuda
