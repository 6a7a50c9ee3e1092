// Top-k on a CUDA device, in slabs of columns so memory stays bounded and the B x N score
// matrix is never stored:
//   1. filter: score (or read) a slab and append the rank keys that beat each row's current
//      k-th best to that row's candidate list (atomics; order does not matter, keys are unique);
//   2. select: one block per row radix-selects the k best of (kept + candidates) in place;
//   3. finish: one block per row sorts its k keys in shared memory and writes values/indices.
// Rank keys (detail/score_order.h) carry the whole order: score, NaN last, lower index first.
#include <cuda_runtime.h>

#include <algorithm>
#include <limits>
#include <string>

#include "../topk/topk_checks.h"
#include "shoprank/detail/score_order.h"
#include "shoprank/errors.h"
#include "shoprank/topk_cuda.h"

namespace shoprank::cuda {
namespace {

void check(cudaError_t status, const char* what) {
  if (status != cudaSuccess)
    throw DeviceError(std::string("CUDA error in ") + what + ": " + cudaGetErrorString(status));
}
#define SHOPRANK_CUDA_CHECK(call) check((call), #call)

constexpr int64_t kSlab = 16384;                    // columns per pass
constexpr int64_t kStateBytes = int64_t{256} << 20;  // candidate memory per row group
constexpr int kSelectThreads = 512;

template <typename T>
class DeviceBuffer {
 public:
  explicit DeviceBuffer(int64_t count) {
    if (count > 0) SHOPRANK_CUDA_CHECK(cudaMalloc(&data_, static_cast<size_t>(count) * sizeof(T)));
  }
  ~DeviceBuffer() {
    if (data_) cudaFree(data_);  // never throw from a destructor
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  T* get() const { return data_; }

 private:
  T* data_ = nullptr;
};

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

// `row` indexes the group's state, `row0 + row` the caller's rows (and the exclusions).
__device__ __forceinline__ void offer(const RowState& state, int64_t row0, int64_t row,
                                      uint64_t threshold, float score, int64_t column,
                                      const DeviceExclusions& excluded) {
  const uint64_t key = detail::rank_key(score, column);
  if (key <= threshold || excluded.contains(row0 + row, column)) return;
  const int slot = atomicAdd(&state.counts[row], 1);
  state.keys[row * state.stride + slot] = key;
}

// Step 1 for a score matrix: grid (slab blocks, rows in group).
__global__ void filter_scores(const float* scores, int64_t cols, int64_t row0, int64_t col0,
                              int64_t slab_cols, RowState state, DeviceExclusions excluded) {
  const int64_t row = blockIdx.y;
  const uint64_t threshold = state.thresholds[row];
  const float* row_scores = scores + (row0 + row) * cols;
  for (int64_t j = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; j < slab_cols;
       j += int64_t{gridDim.x} * blockDim.x) {
    const int64_t column = col0 + j;
    offer(state, row0, row, threshold, row_scores[column], column, excluded);
  }
}

// Step 1 fused with scoring: a 64 x 64 tile of query x item scores per block (16 x 16
// threads, 4 x 4 each), staged through shared memory 16 dimensions at a time.
constexpr int kTileQ = 64, kTileN = 64, kTileD = 16, kPerThread = 4;

__global__ void __launch_bounds__(256)
    filter_inner_product(const float* queries, int64_t num_queries, const float* items,
                         int64_t dim, int64_t row0, int64_t col0, int64_t slab_cols,
                         RowState state, DeviceExclusions excluded) {
  __shared__ float q_tile[kTileD][kTileQ + 1];
  __shared__ float i_tile[kTileD][kTileN + 1];
  const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
  const int64_t q_base = blockIdx.y * int64_t{kTileQ};  // row within the group
  const int64_t n_base = blockIdx.x * int64_t{kTileN};  // column within the slab
  float acc[kPerThread][kPerThread] = {};

  for (int64_t d0 = 0; d0 < dim; d0 += kTileD) {
    for (int e = threadIdx.x; e < kTileQ * kTileD; e += blockDim.x) {
      const int r = e / kTileD, c = e % kTileD;
      const int64_t q = row0 + q_base + r, k = d0 + c;
      q_tile[c][r] = (q < num_queries && k < dim) ? queries[q * dim + k] : 0.0f;
      const int64_t n = n_base + r;
      i_tile[c][r] = (n < slab_cols && k < dim) ? items[(col0 + n) * dim + k] : 0.0f;
    }
    __syncthreads();
#pragma unroll
    for (int c = 0; c < kTileD; ++c) {
      float a[kPerThread], b[kPerThread];
#pragma unroll
      for (int i = 0; i < kPerThread; ++i) {
        a[i] = q_tile[c][ty + 16 * i];
        b[i] = i_tile[c][tx + 16 * i];
      }
#pragma unroll
      for (int i = 0; i < kPerThread; ++i)
#pragma unroll
        for (int j = 0; j < kPerThread; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
    }
    __syncthreads();
  }

#pragma unroll
  for (int i = 0; i < kPerThread; ++i) {
    const int64_t row = q_base + ty + 16 * i;
    if (row0 + row >= num_queries) continue;
    const uint64_t threshold = state.thresholds[row];
#pragma unroll
    for (int j = 0; j < kPerThread; ++j) {
      const int64_t n = n_base + tx + 16 * j;
      if (n < slab_cols) offer(state, row0, row, threshold, acc[i][j], col0 + n, excluded);
    }
  }
}

// Step 2: keep the k best keys of each row (block per row), in place at the row's front.
__global__ void __launch_bounds__(kSelectThreads) select_k(RowState state, int64_t k) {
  __shared__ unsigned int histogram[256];
  __shared__ uint64_t prefix, prefix_mask;
  __shared__ int64_t remaining;
  __shared__ unsigned int kept;
  __shared__ uint64_t best[kMaxK];

  uint64_t* keys = state.keys + blockIdx.x * state.stride;
  const int64_t n = state.counts[blockIdx.x];
  if (n <= k) {  // nothing to drop; the bar is the worst kept key once k are kept
    if (n == k && threadIdx.x == 0) {
      uint64_t worst = ~uint64_t{0};
      for (int64_t i = 0; i < n; ++i) worst = min(worst, keys[i]);
      state.thresholds[blockIdx.x] = worst;
    }
    return;
  }
  if (threadIdx.x == 0) {
    prefix = 0;
    prefix_mask = 0;
    remaining = k;
    kept = 0;
  }
  // Radix select, most significant byte first: after 8 passes `prefix` is the k-th key.
  for (int shift = 56; shift >= 0; shift -= 8) {
    for (int b = threadIdx.x; b < 256; b += blockDim.x) histogram[b] = 0;
    __syncthreads();
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
      const uint64_t key = keys[i];
      if ((key & prefix_mask) == prefix) atomicAdd(&histogram[(key >> shift) & 0xff], 1u);
    }
    __syncthreads();
    if (threadIdx.x == 0) {
      int64_t above = 0;
      for (int digit = 255; digit >= 0; --digit) {
        if (above + histogram[digit] >= remaining) {
          remaining -= above;
          prefix |= static_cast<uint64_t>(digit) << shift;
          prefix_mask |= uint64_t{0xff} << shift;
          break;
        }
        above += histogram[digit];
      }
    }
    __syncthreads();
  }
  const uint64_t kth = prefix;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
    const uint64_t key = keys[i];
    if (key >= kth) best[atomicAdd(&kept, 1u)] = key;  // exactly k keys are >= the k-th
  }
  __syncthreads();
  for (int64_t i = threadIdx.x; i < k; i += blockDim.x) keys[i] = best[i];
  if (threadIdx.x == 0) {
    state.counts[blockIdx.x] = static_cast<int>(k);
    state.thresholds[blockIdx.x] = kth;
  }
}

// Step 3: sort each row's kept keys (bitonic, descending) and write values and indices.
__global__ void __launch_bounds__(kSelectThreads)
    finish_rows(RowState state, int64_t k, int sort_size, const float* scores, int64_t cols,
                int64_t row0, float* out_values, int64_t* out_indices) {
  __shared__ uint64_t keys[kMaxK];
  const uint64_t* row_keys = state.keys + blockIdx.x * state.stride;
  const int count = state.counts[blockIdx.x];
  for (int i = threadIdx.x; i < sort_size; i += blockDim.x) keys[i] = i < count ? row_keys[i] : 0;
  __syncthreads();
  for (int size = 2; size <= sort_size; size *= 2) {
    for (int stride = size / 2; stride > 0; stride /= 2) {
      for (int i = threadIdx.x; i < sort_size; i += blockDim.x) {
        const int partner = i ^ stride;
        if (partner > i) {
          const bool descending = (i & size) == 0;
          const uint64_t a = keys[i], b = keys[partner];
          if ((a < b) == descending) {
            keys[i] = b;
            keys[partner] = a;
          }
        }
      }
      __syncthreads();
    }
  }
  const int64_t row = row0 + blockIdx.x;
  for (int64_t i = threadIdx.x; i < k; i += blockDim.x) {
    const uint64_t key = keys[i];
    float value = -std::numeric_limits<float>::infinity();
    int64_t index = -1;
    if (key != 0) {
      index = detail::index_from_rank_key(key);
      value = scores ? scores[row * cols + index] : detail::score_from_rank_key(key);
    }
    out_values[row * k + i] = value;
    out_indices[row * k + i] = index;
  }
}

int sort_size_for(int64_t k) {
  int size = 1;
  while (size < k) size *= 2;
  return size;
}

// Runs steps 1-3 over row groups and column slabs; `filter(group_rows, row0, col0, slab, state)`
// launches step 1.
template <typename Filter>
void select_in_slabs(int64_t rows, int64_t cols, int64_t k, const float* scores,
                     MatrixView<float> out_values, MatrixView<int64_t> out_indices,
                     cudaStream_t stream, Filter filter) {
  const int64_t slab = std::min(kSlab, std::max<int64_t>(cols, 1));
  const int64_t stride = k + slab;
  constexpr int64_t kMaxGridY = 65535;  // filter_scores puts rows on the grid's y axis
  const int64_t group = std::clamp<int64_t>(kStateBytes / (stride * int64_t{sizeof(uint64_t)}), 1,
                                            std::min(rows, kMaxGridY));
  DeviceBuffer<uint64_t> keys(group * stride), thresholds(group);
  DeviceBuffer<int> counts(group);
  const RowState state{keys.get(), counts.get(), thresholds.get(), stride};
  for (int64_t row0 = 0; row0 < rows; row0 += group) {
    const int64_t group_rows = std::min(group, rows - row0);
    SHOPRANK_CUDA_CHECK(cudaMemsetAsync(counts.get(), 0, group_rows * sizeof(int), stream));
    SHOPRANK_CUDA_CHECK(
        cudaMemsetAsync(thresholds.get(), 0, group_rows * sizeof(uint64_t), stream));
    for (int64_t col0 = 0; col0 < cols; col0 += slab) {
      filter(group_rows, row0, col0, std::min(slab, cols - col0), state);
      SHOPRANK_CUDA_CHECK(cudaGetLastError());
      select_k<<<static_cast<unsigned>(group_rows), kSelectThreads, 0, stream>>>(state, k);
      SHOPRANK_CUDA_CHECK(cudaGetLastError());
    }
    finish_rows<<<static_cast<unsigned>(group_rows), kSelectThreads, 0, stream>>>(
        state, k, sort_size_for(k), scores, cols, row0, out_values.data, out_indices.data);
    SHOPRANK_CUDA_CHECK(cudaGetLastError());
  }
  SHOPRANK_CUDA_CHECK(cudaStreamSynchronize(stream));
}

void check_device_call(int64_t k) {
  SHOPRANK_EXPECTS(k <= kMaxK, "k: the CUDA backend selects at most ", kMaxK, ", got ", k,
                   " (use backend='cpp')");
  SHOPRANK_EXPECTS(device_count() > 0, "no CUDA device is visible");
}

DeviceExclusions device_exclusions(const std::optional<CsrView>& exclude) {
  return exclude ? DeviceExclusions{exclude->offsets, exclude->indices}
                 : DeviceExclusions{nullptr, nullptr};
}

}  // namespace

bool built_with_cuda() { return true; }

int device_count() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no driver" error
    return 0;
  }
  return count;
}

void topk(ConstMatrixView<float> scores, int64_t k, std::optional<CsrView> exclude,
          MatrixView<float> out_values, MatrixView<int64_t> out_indices, std::uintptr_t stream) {
  detail::check_outputs(scores.rows, k, out_values, out_indices);
  detail::check_columns(scores.cols);
  if (k == 0 || scores.rows == 0) return;
  check_device_call(k);
  const auto s = reinterpret_cast<cudaStream_t>(stream);
  const DeviceExclusions excluded = device_exclusions(exclude);
  select_in_slabs(scores.rows, scores.cols, k, scores.data, out_values, out_indices, s,
                  [&](int64_t rows, int64_t row0, int64_t col0, int64_t slab, const RowState& state) {
                    const dim3 grid(static_cast<unsigned>((slab + 1023) / 1024),
                                    static_cast<unsigned>(rows));
                    filter_scores<<<grid, 256, 0, s>>>(scores.data, scores.cols, row0, col0, slab,
                                                       state, excluded);
                  });
}

void topk_inner_product(ConstMatrixView<float> queries, ConstMatrixView<float> items, int64_t k,
                        std::optional<CsrView> exclude, MatrixView<float> out_values,
                        MatrixView<int64_t> out_indices, std::uintptr_t stream) {
  detail::check_outputs(queries.rows, k, out_values, out_indices);
  detail::check_inner_product(queries, items);
  if (k == 0 || queries.rows == 0) return;
  check_device_call(k);
  const auto s = reinterpret_cast<cudaStream_t>(stream);
  const DeviceExclusions excluded = device_exclusions(exclude);
  select_in_slabs(queries.rows, items.rows, k, nullptr, out_values, out_indices, s,
                  [&](int64_t rows, int64_t row0, int64_t col0, int64_t slab, const RowState& state) {
                    const dim3 grid(static_cast<unsigned>((slab + kTileN - 1) / kTileN),
                                    static_cast<unsigned>((rows + kTileQ - 1) / kTileQ));
                    filter_inner_product<<<grid, 256, 0, s>>>(queries.data, queries.rows,
                                                              items.data, queries.cols, row0, col0,
                                                              slab, state, excluded);
                  });
}

}  // namespace shoprank::cuda
