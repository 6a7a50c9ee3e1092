// Step 1 of the device top-k fused with scoring: each block computes a tile of query x item
// inner products and offers them to the rows' candidate lists (row_state_cuda.cuh), so the
// B x N score matrix is never stored. Two kinds of arithmetic:
//   * kTf32x3 (compute capability >= 8.0): tensor cores (mma.sync m16n8k8, tf32), each operand
//     split into a tf32 high part and a tf32 remainder, a.b ~ hi.hi + hi.lo + lo.hi: about
//     float32's accuracy at tensor-core rates; exact wherever float32 is (integer data).
//   * kFma: plain float32 FMA, 128 x 128 tiles; for older devices, or when asked for.
// Tile shapes follow the number of rows, so that a few queries do not pay for 128; up to four
// queries skip tiles altogether (few_queries_cuda.cuh).
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "cuda/cuda_check.h"
#include "few_queries_cuda.cuh"
#include "row_state_cuda.cuh"

namespace shoprank::cuda {

enum class TileMath { kFma, kTf32x3 };

// ---------------------------------------------------------------- float32 FMA tiles
// A 128 x 128 tile of query x item scores per block of 256 threads, each thread an 8 x 8
// register block (rows ty*4 + {0..3, 64..67}, likewise columns), operands staged through
// shared memory 8 dimensions at a time. Rows are padded to 132 floats so the transposing
// stores do not collide on banks.
constexpr int kFmaTile = 128, kFmaDepth = 8, kFmaPad = 132;

__global__ void __launch_bounds__(256)
    filter_inner_product_fma(const float* queries, const float* items, int64_t dim,
                             int64_t group_rows, int64_t row0, int64_t col0, int64_t slab_cols,
                             RowState state, DeviceExclusions excluded) {
  __shared__ __align__(16) float q_tile[kFmaDepth][kFmaPad];
  __shared__ __align__(16) float i_tile[kFmaDepth][kFmaPad];
  const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
  const int64_t q_base = blockIdx.y * int64_t{kFmaTile};  // row within the group
  const int64_t n_base = blockIdx.x * int64_t{kFmaTile};  // column within the slab
  float acc[8][8] = {};

  for (int64_t d0 = 0; d0 < dim; d0 += kFmaDepth) {
#pragma unroll
    for (int e = threadIdx.x; e < kFmaTile * kFmaDepth; e += 256) {
      const int r = e / kFmaDepth, c = e % kFmaDepth;  // consecutive threads read along d
      const int64_t d = d0 + c, q = q_base + r, n = n_base + r;
      q_tile[c][r] = (q < group_rows && d < dim) ? queries[(row0 + q) * dim + d] : 0.0f;
      i_tile[c][r] = (n < slab_cols && d < dim) ? items[(col0 + n) * dim + d] : 0.0f;
    }
    __syncthreads();
#pragma unroll
    for (int c = 0; c < kFmaDepth; ++c) {
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

  // Thread rows ty*4 + {0..3, 64..67} and likewise columns (see above).
  const auto row = [&](int i) { return i < 4 ? ty * 4 + i : 64 + ty * 4 + i - 4; };
  const auto col = [&](int j) { return j < 4 ? tx * 4 + j : 64 + tx * 4 + j - 4; };
  offer_tile<8, 8>(state, row0, q_base, group_rows - q_base, col0 + n_base, slab_cols - n_base,
                   excluded, row, col, [&](int i, int j) { return acc[i][j]; });
}

// ---------------------------------------------------------------- tensor-core tiles
// A block of kWarpsM x kWarpsN warps; each warp computes kMi x kNi mma tiles of 16 x 8.
// Blocks stay resident and walk over the tiles of the slab (row tiles fastest, so blocks
// running together share an item tile through L2); operands arrive through a ring of
// kStages shared-memory stages of kDepth dimensions (cp.async), the next stages loading
// while one is multiplied, across tile boundaries too.
template <int kWarpsM, int kWarpsN, int kMi, int kNi, int kStageCount>
struct TileShape {
  static constexpr int kWarpColumns = kWarpsN, kRowTiles = kMi, kColumnTiles = kNi;
  static constexpr int kStages = kStageCount;
  static constexpr int kThreads = 32 * kWarpsM * kWarpsN;
  static constexpr int kRows = 16 * kMi * kWarpsM;  // queries per tile
  static constexpr int kCols = 8 * kNi * kWarpsN;   // items per tile
  // A stage: the tile's query rows then its item rows, kDepth dimensions each, rows padded
  // to kPitch floats: a warp's fragment reads (8 rows x 4 dimensions) land in 32 distinct
  // banks, and each row starts 16-byte aligned for the copies.
  static constexpr int kDepth = 16, kPitch = kDepth + 4;
  static constexpr int kStageFloats = (kRows + kCols) * kPitch;
  static constexpr size_t kSharedBytes = size_t{kStages} * kStageFloats * sizeof(float);
};
using WideTiles = TileShape<4, 2, 2, 8, 4>;    // 128 x 128, from 65 rows
using MidTiles = TileShape<2, 4, 2, 4, 5>;     // 64 x 128, 17-64 rows
using NarrowTiles = TileShape<1, 8, 1, 4, 4>;  // 16 x 256, up to 16 rows (4 or fewer:
                                               // few_queries_cuda.cuh, unless d > 256)

// Asynchronous copies to shared memory (compute capability 8.0 on); `bytes` below the copy's
// size zero-fill the rest (0: nothing is read, `src` need only be a valid address).
__device__ __forceinline__ void copy_async(float* dst, const float* src, int size, int bytes) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  const auto shared = static_cast<unsigned>(__cvta_generic_to_shared(dst));
  if (size == 16)
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(shared), "l"(src),
                 "r"(bytes));
  else
    asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(shared), "l"(src),
                 "r"(bytes));
#endif
}

__device__ __forceinline__ void copies_issued() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.commit_group;\n" ::);
#endif
}

template <int kPending>  // wait until at most kPending groups of this thread's copies fly
__device__ __forceinline__ void copies_landed() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.wait_group %0;\n" ::"n"(kPending));
#endif
}

// x ~ hi + lo, both tf32 (lo = 0 where the remainder is not finite).
__device__ __forceinline__ void split_tf32(float x, uint32_t& hi, uint32_t& lo) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(hi) : "f"(x));
  const float rest = x - __uint_as_float(hi);
  asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(lo) : "f"(isfinite(rest) ? rest : 0.0f));
#endif
}

// c += a.b for one 16 x 8 x 8 tile (fragments as the PTX ISA lays out m16n8k8 .tf32).
__device__ __forceinline__ void mma_tf32(float (&c)[4], const uint32_t (&a)[4],
                                         const uint32_t (&b)[2]) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile(
      "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
      "{%8,%9}, {%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#endif
}

__device__ __noinline__ float dot_float32(const float* a, const float* b, int64_t dim) {
  float sum = 0.0f;
  for (int64_t d = 0; d < dim; ++d) sum = fmaf(a[d], b[d], sum);
  return sum;
}

// Which stage of which tile: a block walks tiles blockIdx.x, + gridDim.x, ...; tile i lies at
// row tile i % row_tiles, column tile i / row_tiles (blocks running together share an item
// tile through L2). Stepped, not divided, per stage.
template <typename Shape>
struct StageCursor {
  int tile = 0, step = 0;         // step: which kDepth dimensions of the tile
  int64_t q_base = 0, n_base = 0;  // the tile's first row (in the group), column (in the slab)

  __device__ void locate(int at, int row_tiles) {
    tile = at;
    const int column_tile = at / row_tiles;
    q_base = int64_t{at - column_tile * row_tiles} * Shape::kRows;
    n_base = int64_t{column_tile} * Shape::kCols;
  }
  __device__ void advance(int depth_steps, int row_tiles) {
    if (++step < depth_steps) return;
    step = 0;
    locate(tile + static_cast<int>(gridDim.x), row_tiles);
  }
};

template <typename Shape, bool kVector>
struct TileOperands {
  const float* queries;
  const float* items;
  int64_t dim, group_rows, row0, col0, slab_cols;

  // Starts the copies of the cursor's stage (a tile's kDepth dimensions) into `to`.
  __device__ __forceinline__ void load(const StageCursor<Shape>& at, float* to) const {
    const int64_t q_base = at.q_base, n_base = at.n_base, d0 = int64_t{at.step} * Shape::kDepth;
    constexpr int kPieces = (Shape::kRows + Shape::kCols) * (Shape::kDepth / 4);
#pragma unroll
    for (int p = threadIdx.x; p < kPieces; p += Shape::kThreads) {
      const int r = p / (Shape::kDepth / 4), c = p % (Shape::kDepth / 4) * 4;
      const bool query = r < Shape::kRows;
      const int64_t row = query ? q_base + r : n_base + (r - Shape::kRows);
      const bool exists = row < (query ? group_rows : slab_cols);
      const float* src = query ? queries + (row0 + row) * dim : items + (col0 + row) * dim;
      float* dst = to + r * Shape::kPitch + c;
      const int64_t d = d0 + c;
      if (kVector) {
        const bool inside = exists && d < dim;  // dim % 4 == 0: a piece is all in or all out
        copy_async(dst, inside ? src + d : queries, 16, inside ? 16 : 0);
      } else {
#pragma unroll
        for (int j = 0; j < 4; ++j) {
          const bool inside = exists && d + j < dim;
          copy_async(dst + j, inside ? src + d + j : queries, 4, inside ? 4 : 0);
        }
      }
    }
  }
};

template <typename Shape, bool kVector>
__global__ void __launch_bounds__(Shape::kThreads, 2)
    filter_inner_product_tf32x3(const float* __restrict__ queries,
                                const float* __restrict__ items, int64_t dim, int64_t group_rows,
                                int64_t row0, int64_t col0, int64_t slab_cols, RowState state,
                                DeviceExclusions excluded) {
  constexpr int kMi = Shape::kRowTiles, kNi = Shape::kColumnTiles, kStages = Shape::kStages;
  extern __shared__ __align__(16) float stages[];
  const int row_tiles = static_cast<int>((group_rows + Shape::kRows - 1) / Shape::kRows);
  const int tiles = row_tiles * static_cast<int>((slab_cols + Shape::kCols - 1) / Shape::kCols);
  const int depth_steps =
      std::max(static_cast<int>((dim + Shape::kDepth - 1) / Shape::kDepth), 1);
  const TileOperands<Shape, kVector> operands{queries, items, dim, group_rows, row0, col0,
                                              slab_cols};
  const int my_tiles = tiles > static_cast<int>(blockIdx.x)
                           ? (tiles - blockIdx.x + gridDim.x - 1) / gridDim.x : 0;
  const int64_t total = int64_t{my_tiles} * depth_steps;  // stages this block multiplies
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
  const int wm = warp / Shape::kWarpColumns * (16 * kMi);  // the warp's first row in a tile
  const int wn = warp % Shape::kWarpColumns * (8 * kNi);   // and its first column
  StageCursor<Shape> loading, scoring;
  loading.locate(blockIdx.x, row_tiles);
  scoring = loading;
  float acc[kMi][kNi][4] = {};

  for (int s = 0; s < kStages - 1; ++s) {  // the ring fills
    if (s < total) {
      operands.load(loading, stages + s * Shape::kStageFloats);
      loading.advance(depth_steps, row_tiles);
    }
    copies_issued();
  }
  for (int64_t s = 0; s < total; ++s) {
    copies_landed<kStages - 2>();  // this thread's copies of stage s have landed
    __syncthreads();               // everyone's; and stage s - 1 is free again
    const int64_t next = s + kStages - 1;
    if (next < total) {
      operands.load(loading, stages + next % kStages * Shape::kStageFloats);
      loading.advance(depth_steps, row_tiles);
    }
    copies_issued();

    const float* stage = stages + s % kStages * Shape::kStageFloats;
#pragma unroll
    for (int k0 = 0; k0 < Shape::kDepth; k0 += 8) {
      // A fragment (16 x 8, by rows): a[r] is row g + 8 (r % 2), dimension t + 4 (r / 2).
      uint32_t a_hi[kMi][4], a_lo[kMi][4];
#pragma unroll
      for (int mi = 0; mi < kMi; ++mi)
#pragma unroll
        for (int r = 0; r < 4; ++r)
          split_tf32(stage[(wm + mi * 16 + g + r % 2 * 8) * Shape::kPitch + k0 + t + r / 2 * 4],
                     a_hi[mi][r], a_lo[mi][r]);
#pragma unroll
      for (int ni = 0; ni < kNi; ++ni) {
        // B fragment (8 x 8, by columns): b[r] is dimension t + 4 r of item g.
        uint32_t b_hi[2], b_lo[2];
#pragma unroll
        for (int r = 0; r < 2; ++r)
          split_tf32(stage[(Shape::kRows + wn + ni * 8 + g) * Shape::kPitch + k0 + t + r * 4],
                     b_hi[r], b_lo[r]);
#pragma unroll
        for (int mi = 0; mi < kMi; ++mi) {  // small terms first
          mma_tf32(acc[mi][ni], a_lo[mi], b_hi);
          mma_tf32(acc[mi][ni], a_hi[mi], b_lo);
          mma_tf32(acc[mi][ni], a_hi[mi], b_hi);
        }
      }
    }
    if (scoring.step != depth_steps - 1) {
      scoring.advance(depth_steps, row_tiles);
      continue;
    }

    // The tile is scored (the next one's copies fly meanwhile): offer it and start afresh.
    // Accumulator (16 x 8): acc[mi][ni][2 h + e] is row g + 8 h, column 2 t + e; as the
    // thread's (2 kMi) x (2 kNi) block: row r = 2 mi + h, column c = 2 ni + e.
    const int64_t row_limit = group_rows - scoring.q_base, col_limit = slab_cols - scoring.n_base;
    const auto row = [&](int r) { return wm + r / 2 * 16 + g + r % 2 * 8; };
    const auto col = [&](int c) { return wn + c / 2 * 8 + 2 * t + c % 2; };
#pragma unroll
    for (int r = 0; r < 2 * kMi; ++r)
#pragma unroll
      for (int c = 0; c < 2 * kNi; ++c) {
        float& score = acc[r / 2][c / 2][r % 2 * 2 + c % 2];
        // NaN comes only from an infinity or NaN in the inputs, where the split's cross
        // terms (0 x inf) would differ from float32: that pair is scored in float32.
        if (isnan(score) && row(r) < row_limit && col(c) < col_limit)
          score = dot_float32(queries + (row0 + scoring.q_base + row(r)) * dim,
                              items + (col0 + scoring.n_base + col(c)) * dim, dim);
      }
    offer_tile<2 * kMi, 2 * kNi>(
        state, row0, scoring.q_base, row_limit, col0 + scoring.n_base, col_limit, excluded, row,
        col, [&](int r, int c) { return acc[r / 2][c / 2][r % 2 * 2 + c % 2]; });
#pragma unroll
    for (int mi = 0; mi < kMi; ++mi)
#pragma unroll
      for (int ni = 0; ni < kNi; ++ni)
#pragma unroll
        for (int v = 0; v < 4; ++v) acc[mi][ni][v] = 0.0f;
    scoring.advance(depth_steps, row_tiles);
  }
  copies_landed<0>();  // no copy may outlive the block
}

// ---------------------------------------------------------------- launch
// Blocks of one tensor-core kernel that fit on a multiprocessor (its shared memory allowed
// first); asked once per kernel.
template <typename Shape, bool kVector>
int resident_blocks() {
  static const int blocks = [] {
    const auto kernel = filter_inner_product_tf32x3<Shape, kVector>;
    SHOPRANK_CUDA_CHECK(cudaFuncSetAttribute(
        kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int{Shape::kSharedBytes}));
    int count = 0;
    SHOPRANK_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(
        &count, kernel, Shape::kThreads, Shape::kSharedBytes));
    return std::max(count, 1);
  }();
  return blocks;
}

template <typename Shape, bool kVector>
void launch_tf32x3(const float* queries, const float* items, int64_t dim, int64_t rows,
                   int64_t row0, int64_t col0, int64_t slab, const RowState& state,
                   const DeviceExclusions& excluded, cudaStream_t stream) {
  const int multiprocessors = detail::multiprocessor_count();
  const int64_t tiles = (rows + Shape::kRows - 1) / Shape::kRows *
                        ((slab + Shape::kCols - 1) / Shape::kCols);
  const int64_t blocks = std::min<int64_t>(
      tiles, int64_t{resident_blocks<Shape, kVector>()} * multiprocessors);
  filter_inner_product_tf32x3<Shape, kVector>
      <<<static_cast<unsigned>(blocks), Shape::kThreads, Shape::kSharedBytes, stream>>>(
          queries, items, dim, rows, row0, col0, slab, state, excluded);
}

template <typename Shape>
void launch_tf32x3(bool vector, const float* queries, const float* items, int64_t dim,
                   int64_t rows, int64_t row0, int64_t col0, int64_t slab, const RowState& state,
                   const DeviceExclusions& excluded, cudaStream_t stream) {
  if (vector)
    launch_tf32x3<Shape, true>(queries, items, dim, rows, row0, col0, slab, state, excluded,
                               stream);
  else
    launch_tf32x3<Shape, false>(queries, items, dim, rows, row0, col0, slab, state, excluded,
                                stream);
}

// Scores rows [row0, row0 + rows) against items [col0, col0 + slab) and offers them.
inline void launch_score_tiles(TileMath math, const float* queries, const float* items,
                               int64_t dim, int64_t rows, int64_t row0, int64_t col0,
                               int64_t slab, const RowState& state,
                               const DeviceExclusions& excluded, cudaStream_t stream) {
  if (rows <= kFewQueries && dim <= kFewMaxDim) {  // float32 FMA either way
    if (rows == 1)
      launch_few_queries<1>(queries, items, dim, rows, row0, col0, slab, state, excluded, stream);
    else if (rows == 2)
      launch_few_queries<2>(queries, items, dim, rows, row0, col0, slab, state, excluded, stream);
    else
      launch_few_queries<4>(queries, items, dim, rows, row0, col0, slab, state, excluded, stream);
    return;
  }
  if (math == TileMath::kFma) {
    const dim3 grid(static_cast<unsigned>((slab + kFmaTile - 1) / kFmaTile),
                    static_cast<unsigned>((rows + kFmaTile - 1) / kFmaTile));
    filter_inner_product_fma<<<grid, 256, 0, stream>>>(queries, items, dim, rows, row0, col0,
                                                       slab, state, excluded);
    return;
  }
  const auto aligned = [](const float* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; };
  const bool vector = dim % 4 == 0 && aligned(queries) && aligned(items);
  if (rows <= NarrowTiles::kRows)
    launch_tf32x3<NarrowTiles>(vector, queries, items, dim, rows, row0, col0, slab, state,
                               excluded, stream);
  else if (rows <= MidTiles::kRows)
    launch_tf32x3<MidTiles>(vector, queries, items, dim, rows, row0, col0, slab, state,
                            excluded, stream);
  else
    launch_tf32x3<WideTiles>(vector, queries, items, dim, rows, row0, col0, slab, state,
                             excluded, stream);
}

}  // namespace shoprank::cuda
