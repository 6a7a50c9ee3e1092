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

// OR of a 64-bit value over the warp.
__device__ __forceinline__ uint64_t warp_or(uint64_t value) {
#pragma unroll
  for (int offset = 16; offset > 0; offset /= 2)
    value |= __shfl_xor_sync(0xffffffffu, value, offset);
  return value;
}

// offer_tile's rare part, out of line: offers the positions set in `any` (the warp's
// possible entrants; `maybe`: this lane's).
template <int kRows, int kCols>
__device__ __noinline__ void offer_positions(RowState state, int64_t row0, int64_t row_base,
                                             int64_t column_base, DeviceExclusions excluded,
                                             const float (&block)[kRows][kCols],
                                             const int (&rows)[kRows], const int (&cols)[kCols],
                                             uint64_t maybe, uint64_t any) {
  for (; any; any &= any - 1) {
    const int bit = __ffsll(static_cast<long long>(any)) - 1, r = bit / kCols, c = bit % kCols;
    const bool mine = (maybe >> bit) & 1;
    const int64_t at = row_base + rows[r];
    offer(state, row0, at, mine ? state.thresholds[at] : 0, block[r][c], column_base + cols[c],
          mine, excluded);
  }
}

// Offers a thread's block of kRows x kCols scores of one tile: score(r, c) is at row
// row_base + row(r) of the group and column column_base + col(c) of the caller's columns,
// where row(r) < row_limit and col(c) < col_limit exist. Most scores cannot beat their
// row's bar, and one float comparison says so: a score below the bar's own score cannot
// (one equal to it may, by a lower index). Only the positions where some lane of the warp
// has a possible entrant go through offer()'s exact key test and append, together; every
// lane must call this.
template <int kRows, int kCols, typename Row, typename Col, typename Score>
__device__ __forceinline__ void offer_tile(const RowState& state, int64_t row0,
                                           int64_t row_base, int64_t row_limit,
                                           int64_t column_base, int64_t col_limit,
                                           const DeviceExclusions& excluded, Row row, Col col,
                                           Score score) {
  static_assert(kRows * kCols <= 64, "one bit per score");
  uint64_t maybe = 0;
#pragma unroll
  for (int r = 0; r < kRows; ++r) {
    const bool row_valid = row(r) < row_limit;
    const uint64_t threshold = row_valid ? state.thresholds[row_base + row(r)] : 0;
    // Below k keys so far (threshold 0) everything may enter, NaN too; past a NaN's bar
    // (NaN ranks last) so may every number, and a NaN of lower index.
    const float bar = detail::score_from_rank_key(threshold);
    const bool all = threshold == 0 || bar != bar;
#pragma unroll
    for (int c = 0; c < kCols; ++c) {
      const bool may = row_valid && col(c) < col_limit && (all || score(r, c) >= bar);
      maybe |= static_cast<uint64_t>(may) << (r * kCols + c);
    }
  }
  const uint64_t any = warp_or(maybe);  // the same on every lane
  if (!any) return;
  float block[kRows][kCols];  // in memory, and only here: the scoring keeps its registers
  int rows[kRows], cols[kCols];
#pragma unroll
  for (int r = 0; r < kRows; ++r) {
    rows[r] = row(r);
#pragma unroll
    for (int c = 0; c < kCols; ++c) block[r][c] = score(r, c);
  }
#pragma unroll
  for (int c = 0; c < kCols; ++c) cols[c] = col(c);
  offer_positions<kRows, kCols>(state, row0, row_base, column_base, excluded, block, rows, cols,
                                maybe, any);
}

}  // namespace shoprank::cuda
