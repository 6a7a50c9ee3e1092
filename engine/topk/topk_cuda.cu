// Top-k on a CUDA device, in slabs of columns so memory stays bounded and the B x N score
// matrix is never stored:
//   1. filter: score (or read) a slab and append the rank keys that beat each row's current
//      k-th best to that row's candidate list (atomics; order does not matter, keys are unique);
//   2. select: one block per row radix-selects the k best of (kept + candidates) in place,
//      lazily, once more than 4k keys have gathered (and always after the last slab);
//   3. finish: one block per row sorts its k keys in shared memory and writes values/indices.
// Rank keys (score_order.h) carry the whole order: score, NaN last, lower index first.
#include <cuda_runtime.h>

#include <algorithm>
#include <limits>
#include <string>

#include "cuda/cuda_check.h"
#include "shoprank/errors.h"
#include "shoprank/topk/topk_cuda.h"
#include "score_order.h"
#include "topk_checks.h"

namespace shoprank::cuda {
namespace {

constexpr int64_t kMinSlab = 16384, kMaxSlab = int64_t{1} << 20;  // columns per pass
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

// Step 1's common end: offers one score per lane. `row` indexes the group's state,
// `row0 + row` the caller's rows (and the exclusions). Every lane of the warp must call it
// (invalid lanes with valid = false): lanes offering to the same row share one atomicAdd.
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

// Step 1 for a score matrix: grid (slab blocks, rows in group). The loop bound is uniform
// per warp, so every lane reaches offer().
__global__ void filter_scores(const float* scores, int64_t cols, int64_t row0, int64_t col0,
                              int64_t slab_cols, RowState state, DeviceExclusions excluded) {
  const int64_t row = blockIdx.y;
  const uint64_t threshold = state.thresholds[row];
  const float* row_scores = scores + (row0 + row) * cols;
  const int64_t warp_start = blockIdx.x * int64_t{blockDim.x} + threadIdx.x / 32 * 32;
  for (int64_t j0 = warp_start; j0 < slab_cols; j0 += int64_t{gridDim.x} * blockDim.x) {
    const int64_t j = j0 + threadIdx.x % 32;
    const bool valid = j < slab_cols;
    offer(state, row0, row, threshold, valid ? row_scores[col0 + j] : 0.0f, col0 + j, valid,
          excluded);
  }
}

// Step 1 fused with scoring: a 128 x 128 tile of query x item scores per block of 256
// threads, each thread an 8 x 8 register block (rows ty*4 + {0..3, 64..67}, likewise
// columns), operands staged through shared memory 8 dimensions at a time. Rows are padded
// to 132 floats so the transposing stores do not collide on banks.
constexpr int kTileQ = 128, kTileN = 128, kTileD = 8, kPad = 132;

__global__ void __launch_bounds__(256)
    filter_inner_product(const float* queries, const float* items, int64_t dim,
                         int64_t group_rows, int64_t row0, int64_t col0, int64_t slab_cols,
                         RowState state, DeviceExclusions excluded) {
  __shared__ __align__(16) float q_tile[kTileD][kPad];
  __shared__ __align__(16) float i_tile[kTileD][kPad];
  const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
  const int64_t q_base = blockIdx.y * int64_t{kTileQ};  // row within the group
  const int64_t n_base = blockIdx.x * int64_t{kTileN};  // column within the slab
  float acc[8][8] = {};

  for (int64_t d0 = 0; d0 < dim; d0 += kTileD) {
#pragma unroll
    for (int e = threadIdx.x; e < kTileQ * kTileD; e += 256) {
      const int r = e / kTileD, c = e % kTileD;  // consecutive threads read along d
      const int64_t d = d0 + c, q = q_base + r, n = n_base + r;
      q_tile[c][r] = (q < group_rows && d < dim) ? queries[(row0 + q) * dim + d] : 0.0f;
      i_tile[c][r] = (n < slab_cols && d < dim) ? items[(col0 + n) * dim + d] : 0.0f;
    }
    __syncthreads();
#pragma unroll
    for (int c = 0; c < kTileD; ++c) {
      float a[8], b[8];
      *reinterpret_cast<float4*>(a) = *reinterpret_cast<const float4*>(&q_tile[c][ty * 4]);
      *reinterpret_cast<float4*>(a + 4) =
          *reinterpret_cast<const float4*>(&q_tile[c][64 + ty * 4]);
      *reinterpret_cast<float4*>(b) = *reinterpret_cast<const float4*>(&i_tile[c][tx * 4]);
      *reinterpret_cast<float4*>(b + 4) =
          *reinterpret_cast<const float4*>(&i_tile[c][64 + tx * 4]);
#pragma unroll
      for (int i = 0; i < 8; ++i)
#pragma unroll
        for (int j = 0; j < 8; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
    }
    __syncthreads();
  }

#pragma unroll
  for (int i = 0; i < 8; ++i) {
    const int64_t row = q_base + (i < 4 ? ty * 4 + i : 64 + ty * 4 + i - 4);
    const bool row_valid = row < group_rows;
    const uint64_t threshold = row_valid ? state.thresholds[row] : ~uint64_t{0};
#pragma unroll
    for (int j = 0; j < 8; ++j) {
      const int64_t n = n_base + (j < 4 ? tx * 4 + j : 64 + tx * 4 + j - 4);
      offer(state, row0, row, threshold, acc[i][j], col0 + n, row_valid && n < slab_cols,
            excluded);
    }
  }
}

// Step 2: keep the k best keys of each row (block per row), in place at the row's front,
// once more than `limit` keys have gathered (limit = k: always). Selecting lazily lets
// candidates pile up cheaply while the bar is already good; the bar rises at each select.
__global__ void __launch_bounds__(kSelectThreads)
    select_k(RowState state, int64_t k, int64_t limit) {
  __shared__ unsigned int histogram[256];
  __shared__ uint64_t prefix, prefix_mask;
  __shared__ int64_t remaining;
  __shared__ unsigned int kept;
  __shared__ uint64_t best[kMaxK];

  uint64_t* keys = state.keys + blockIdx.x * state.stride;
  const int64_t n = state.counts[blockIdx.x];
  if (n <= limit || n <= k) return;
  if (threadIdx.x == 0) {
    prefix = 0;
    prefix_mask = 0;
    remaining = k;
    kept = 0;
  }
  // Radix select, most significant byte first: after 8 passes `prefix` is the k-th key.
  // (kSelectThreads >= 256: one thread per digit in the search below.)
  for (int shift = 56; shift >= 0; shift -= 8) {
    for (int b = threadIdx.x; b < 256; b += blockDim.x) histogram[b] = 0;
    __syncthreads();
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
      const uint64_t key = keys[i];
      if ((key & prefix_mask) == prefix) atomicAdd(&histogram[(key >> shift) & 0xff], 1u);
    }
    const int64_t wanted = remaining;
    __syncthreads();
    // at_or_above[d] = keys (matching the prefix) whose digit is >= d: a parallel suffix sum.
    for (int offset = 1; offset < 256; offset *= 2) {
      const unsigned int add =
          threadIdx.x + offset < 256 ? histogram[threadIdx.x + offset] : 0u;
      __syncthreads();
      if (threadIdx.x < 256) histogram[threadIdx.x] += add;
      __syncthreads();
    }
    // The k-th key's digit d is the one with at_or_above[d+1] < wanted <= at_or_above[d].
    if (threadIdx.x < 256) {
      const unsigned int above = threadIdx.x < 255 ? histogram[threadIdx.x + 1] : 0u;
      if (above < wanted && wanted <= histogram[threadIdx.x]) {
        remaining = wanted - above;
        prefix |= static_cast<uint64_t>(threadIdx.x) << shift;
        prefix_mask |= uint64_t{0xff} << shift;
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
// launches step 1. Rows keep up to 4k keys between selects, plus room for one slab. The
// first slab is narrow so that the first select is cheap and sets a useful bar early.
template <typename Filter>
void select_in_slabs(int64_t rows, int64_t cols, int64_t k, const float* scores,
                     MatrixView<float> out_values, MatrixView<int64_t> out_indices,
                     cudaStream_t stream, Filter filter) {
  // Few rows get wide slabs (fewer, fuller launches); the state memory bounds the width.
  const int64_t lazy_limit = 4 * k;
  const int64_t wide = kStateBytes / (rows * int64_t{sizeof(uint64_t)}) - lazy_limit;
  const int64_t slab = std::min(std::clamp(wide / 128 * 128, kMinSlab, kMaxSlab),
                                std::max<int64_t>(cols, 1));
  const int64_t first_slab = std::min(slab, std::max<int64_t>(16 * k, 1024));
  const int64_t stride = lazy_limit + slab;
  constexpr int64_t kMaxGridY = 65535;  // filter_scores puts rows on the grid's y axis
  const int64_t max_group = std::clamp<int64_t>(
      kStateBytes / (stride * int64_t{sizeof(uint64_t)}), 1, std::min(rows, kMaxGridY));
  const int64_t groups = (rows + max_group - 1) / max_group;
  const int64_t group = (rows + groups - 1) / groups;  // balanced: no tiny last group
  DeviceBuffer<uint64_t> keys(group * stride), thresholds(group);
  DeviceBuffer<int> counts(group);
  const RowState state{keys.get(), counts.get(), thresholds.get(), stride};
  for (int64_t row0 = 0; row0 < rows; row0 += group) {
    const int64_t group_rows = std::min(group, rows - row0);
    const auto blocks = static_cast<unsigned>(group_rows);
    SHOPRANK_CUDA_CHECK(cudaMemsetAsync(counts.get(), 0, group_rows * sizeof(int), stream));
    SHOPRANK_CUDA_CHECK(
        cudaMemsetAsync(thresholds.get(), 0, group_rows * sizeof(uint64_t), stream));
    for (int64_t col0 = 0; col0 < cols;) {
      const int64_t width = std::min(col0 == 0 ? first_slab : slab, cols - col0);
      filter(group_rows, row0, col0, width, state);
      SHOPRANK_CUDA_CHECK(cudaGetLastError());
      col0 += width;
      select_k<<<blocks, kSelectThreads, 0, stream>>>(state, k, col0 < cols ? lazy_limit : k);
      SHOPRANK_CUDA_CHECK(cudaGetLastError());
    }
    finish_rows<<<blocks, kSelectThreads, 0, stream>>>(
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
                    filter_inner_product<<<grid, 256, 0, s>>>(queries.data, items.data,
                                                              queries.cols, rows, row0, col0,
                                                              slab, state, excluded);
                  });
}

}  // namespace shoprank::cuda
