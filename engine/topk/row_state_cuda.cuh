// What the fused filters share with the selection driver (topk_cuda.cu): each row's
// candidate list and bar in device memory, the per-row exclusions, and offer(), which appends
// the keys that beat a row's bar.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "score_order.h"

namespace shoprank::cuda {

// Per-row selection state for a group of rows, in device memory.
struct RowState {
  uint64_t* keys;        // rows x stride: [0, count) kept + appended candidates
  int* counts;           // rows
  uint64_t* thresholds;  // rows: the k-th best key so far, 0 while fewer than k are kept
  int64_t stride;
};

struct DeviceExclusions {
  const int64_t* offsets;  // null: nothing excluded
  const int64_t* indices;  // sorted ascending within each row

  __device__ bool contains(int64_t row, int64_t column) const {
    if (!offsets) return false;
    int64_t lo = offsets[row], hi = offsets[row + 1];
    while (lo < hi) {
      const int64_t mid = (lo + hi) / 2;
      const int64_t value = indices[mid];
      if (value == column) return true;
      if (value < column) lo = mid + 1; else hi = mid;
    }
    return false;
  }
};

// Offers one score per lane. `row` indexes the group's state, `row0 + row` the caller's rows
// (and the exclusions). Every lane of the warp must call it (invalid lanes with
// valid = false): lanes offering to the same row share one atomicAdd.
__device__ __forceinline__ void offer(const RowState& state, int64_t row0, int64_t row,
                                      uint64_t threshold, float score, int64_t column,
                                      bool valid, const DeviceExclusions& excluded) {
  const uint64_t key = detail::rank_key(score, column);
  const bool keep = valid && key > threshold && !excluded.contains(row0 + row, column);
  if (!__any_sync(0xffffffffu, keep)) return;
  const unsigned peers = __match_any_sync(0xffffffffu, keep ? row : int64_t{-1});
  if (!keep) return;
  const int lane = threadIdx.x % 32, leader = __ffs(peers) - 1;
  int base = 0;
  if (lane == leader) base = atomicAdd(&state.counts[row], __popc(peers));
  base = __shfl_sync(peers, base, leader);
  state.keys[row * state.stride + base + __popc(peers & ((1u << lane) - 1u))] = key;
}

}  // namespace shoprank::cuda
