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
#include <cstdlib>
#include <limits>
#include <string>

#include "cuda/cuda_check.h"
#include "shoprank/errors.h"
#include "shoprank/topk/topk_cuda.h"
#include "row_state_cuda.cuh"
#include "score_order.h"
#include "score_tiles_cuda.cuh"
#include "topk_checks.h"

namespace shoprank::cuda {
namespace {

constexpr int64_t kMinSlab = 16384, kMaxSlab = int64_t{1} << 20;  // columns per pass
constexpr int64_t kStateBytes = int64_t{256} << 20;  // candidate memory per row group
constexpr int kSelectThreads = 512;

// Stream-ordered device memory from the device's default pool, which keeps up to
// kPoolKeepBytes between calls (one call's state, with room): a call costs no
// cudaMalloc/cudaFree (each of which synchronizes the device) once the pool has grown.
constexpr uint64_t kPoolKeepBytes = 2 * kStateBytes;

void keep_pool_memory() {
  int device = 0;
  cudaMemPool_t pool;
  uint64_t keep = 0;
  SHOPRANK_CUDA_CHECK(cudaGetDevice(&device));
  SHOPRANK_CUDA_CHECK(cudaDeviceGetDefaultMemPool(&pool, device));
  SHOPRANK_CUDA_CHECK(cudaMemPoolGetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep));
  if (keep >= kPoolKeepBytes) return;
  keep = kPoolKeepBytes;
  SHOPRANK_CUDA_CHECK(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep));
}

template <typename T>
class DeviceBuffer {
 public:
  DeviceBuffer(int64_t count, cudaStream_t stream) : stream_(stream) {
    if (count > 0)
      SHOPRANK_CUDA_CHECK(
          cudaMallocAsync(&data_, static_cast<size_t>(count) * sizeof(T), stream));
  }
  ~DeviceBuffer() {
    if (data_) cudaFreeAsync(data_, stream_);  // never throw from a destructor
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  T* get() const { return data_; }

 private:
  T* data_ = nullptr;
  cudaStream_t stream_;
};

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
// launches step 1. Rows keep up to 4k keys between selects, plus room for one slab. Slabs
// start narrow and widen eightfold: each select raises the bar while few candidates have
// passed the last one (a bar taken from 16k columns lets through about k x N / 16k more).
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
  keep_pool_memory();
  DeviceBuffer<uint64_t> keys(group * stride, stream), thresholds(group, stream);
  DeviceBuffer<int> counts(group, stream);
  const RowState state{keys.get(), counts.get(), thresholds.get(), stride};
  for (int64_t row0 = 0; row0 < rows; row0 += group) {
    const int64_t group_rows = std::min(group, rows - row0);
    const auto blocks = static_cast<unsigned>(group_rows);
    SHOPRANK_CUDA_CHECK(cudaMemsetAsync(counts.get(), 0, group_rows * sizeof(int), stream));
    SHOPRANK_CUDA_CHECK(
        cudaMemsetAsync(thresholds.get(), 0, group_rows * sizeof(uint64_t), stream));
    for (int64_t col0 = 0, width = first_slab; col0 < cols; width = std::min(slab, 8 * width)) {
      // A last piece smaller than this slab joins it, where the state has room: one launch
      // and one select fewer.
      const int64_t left = cols - col0;
      width = left <= slab && left - width < width ? left : std::min(width, left);
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

// Tensor cores where the device has them (compute capability 8.0 on), unless
// SHOPRANK_CUDA_TOPK_MATH says "fma" (plain float32) or "tf32x3".
TileMath tile_math() {
  const char* asked = std::getenv("SHOPRANK_CUDA_TOPK_MATH");
  if (asked && *asked) {
    const std::string name(asked);
    SHOPRANK_EXPECTS(name == "fma" || name == "tf32x3",
                     "SHOPRANK_CUDA_TOPK_MATH: expected \"fma\" or \"tf32x3\", got \"", name,
                     "\"");
    if (name == "fma") return TileMath::kFma;
  }
  int device = 0, major = 0;
  SHOPRANK_CUDA_CHECK(cudaGetDevice(&device));
  SHOPRANK_CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device));
  SHOPRANK_EXPECTS(major >= 8 || !asked || !*asked,
                   "SHOPRANK_CUDA_TOPK_MATH=tf32x3 needs compute capability 8.0 or newer");
  return major >= 8 ? TileMath::kTf32x3 : TileMath::kFma;
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
  const TileMath math = tile_math();
  select_in_slabs(queries.rows, items.rows, k, nullptr, out_values, out_indices, s,
                  [&](int64_t rows, int64_t row0, int64_t col0, int64_t slab, const RowState& state) {
                    launch_score_tiles(math, queries.data, items.data, queries.cols, rows, row0,
                                       col0, slab, state, excluded, s);
                  });
}

}  // namespace shoprank::cuda
