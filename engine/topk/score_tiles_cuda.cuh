// Step 1 of the device top-k fused with scoring: each block computes a tile of query x item
// inner products and offers them to the rows' candidate lists (row_state_cuda.cuh), so the
// B x N score matrix is never stored. Two kinds of arithmetic:
//   * kTf32x3 (compute capability >= 8.0): tensor cores (mma.sync m16n8k8, tf32), each operand
//     split into a tf32 high part and a tf32 remainder, a.b ~ hi.hi + hi.lo + lo.hi: about
//     float32's accuracy at tensor-core rates; exact wherever float32 is (integer data).
//   * kFma: plain float32 FMA, 128 x 128 tiles; for older devices, or when asked for.
// Tile shapes follow the number of rows, so that a few queries do not pay for 128.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

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

// ---------------------------------------------------------------- tensor-core tiles
// A block of kWarpsM x kWarpsN warps; each warp computes kMi x kNi mma tiles of 16 x 8.
template <int kWarpsM, int kWarpsN, int kMi, int kNi>
struct TileShape {
  static constexpr int kWarpColumns = kWarpsN, kRowTiles = kMi, kColumnTiles = kNi;
  static constexpr int kThreads = 32 * kWarpsM * kWarpsN;
  static constexpr int kRows = 16 * kMi * kWarpsM;  // queries per block
  static constexpr int kCols = 8 * kNi * kWarpsN;   // items per block
};
using WideTiles = TileShape<4, 2, 2, 8>;   // 128 x 128, from 65 rows
using MidTiles = TileShape<2, 4, 2, 4>;    // 64 x 128, 17-64 rows
using NarrowTiles = TileShape<1, 8, 1, 4>; // 16 x 256, up to 16 rows

// One operand's next 8 dimensions for rows [0, kRows) of its tile, through registers (so the
// loads of chunk c + 1 fly while chunk c is multiplied), stored transposed to
// [dimension][row]. Rows are padded by 8 floats: a warp's fragment reads (8 rows x 4
// dimensions) then land in 32 distinct banks. 16-byte loads when every row is 16-byte aligned.
template <int kRows, int kThreads, bool kVector>
struct ChunkCopy {
  static constexpr int kPitch = kRows + 8;
  static constexpr int kSlots = kRows * 2;  // 4-dimension pieces: two per row
  static constexpr int kPerThread = (kSlots + kThreads - 1) / kThreads;
  float4 piece[kPerThread];

  // `tile_rows`: how many of the tile's rows exist (the rest read as zeros).
  __device__ __forceinline__ void load(const float* __restrict__ rows, int64_t tile_rows,
                                       int64_t dim, int64_t d0) {
#pragma unroll
    for (int s = 0; s < kPerThread; ++s) {
      const int slot = threadIdx.x + s * kThreads;
      const int r = slot / 2;
      const int64_t d = d0 + (slot % 2) * 4;
      float4 v = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
      if (slot < kSlots && r < tile_rows) {
        const float* p = rows + r * dim + d;
        if (kVector) {
          if (d < dim) v = __ldg(reinterpret_cast<const float4*>(p));
        } else {
          v.x = d < dim ? __ldg(p) : 0.0f;
          v.y = d + 1 < dim ? __ldg(p + 1) : 0.0f;
          v.z = d + 2 < dim ? __ldg(p + 2) : 0.0f;
          v.w = d + 3 < dim ? __ldg(p + 3) : 0.0f;
        }
      }
      piece[s] = v;
    }
  }

  __device__ __forceinline__ void store(float (*tile)[kPitch]) const {
#pragma unroll
    for (int s = 0; s < kPerThread; ++s) {
      const int slot = threadIdx.x + s * kThreads;
      if (slot >= kSlots) continue;
      const int r = slot / 2, c = (slot % 2) * 4;
      tile[c][r] = piece[s].x;
      tile[c + 1][r] = piece[s].y;
      tile[c + 2][r] = piece[s].z;
      tile[c + 3][r] = piece[s].w;
    }
  }
};

// x ~ hi + lo, both tf32 (lo = 0 where the remainder is not finite, so infinities score as
// in float32 rather than as NaN).
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

template <typename Shape, bool kVector>
__global__ void __launch_bounds__(Shape::kThreads, 2)
    filter_inner_product_tf32x3(const float* __restrict__ queries,
                                const float* __restrict__ items, int64_t dim, int64_t group_rows,
                                int64_t row0, int64_t col0, int64_t slab_cols, RowState state,
                                DeviceExclusions excluded) {
  constexpr int kMi = Shape::kRowTiles, kNi = Shape::kColumnTiles;
  using QueryCopy = ChunkCopy<Shape::kRows, Shape::kThreads, kVector>;
  using ItemCopy = ChunkCopy<Shape::kCols, Shape::kThreads, kVector>;
  __shared__ __align__(16) float q_tile[2][8][QueryCopy::kPitch];
  __shared__ __align__(16) float i_tile[2][8][ItemCopy::kPitch];
  const int64_t q_base = blockIdx.y * int64_t{Shape::kRows};  // row within the group
  const int64_t n_base = blockIdx.x * int64_t{Shape::kCols};  // column within the slab
  const float* q_rows = queries + (row0 + q_base) * dim;
  const float* i_rows = items + (col0 + n_base) * dim;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
  const int wm = warp / Shape::kWarpColumns * (16 * kMi);  // the warp's first row in the tile
  const int wn = warp % Shape::kWarpColumns * (8 * kNi);   // and its first column
  QueryCopy q_copy;
  ItemCopy i_copy;
  float acc[kMi][kNi][4] = {};

  q_copy.load(q_rows, group_rows - q_base, dim, 0);
  i_copy.load(i_rows, slab_cols - n_base, dim, 0);
  q_copy.store(q_tile[0]);
  i_copy.store(i_tile[0]);
  __syncthreads();
  const int64_t chunks = (dim + 7) / 8;
  for (int64_t c = 0; c < chunks; ++c) {
    const int buf = static_cast<int>(c & 1);
    const bool more = c + 1 < chunks;
    if (more) {
      q_copy.load(q_rows, group_rows - q_base, dim, (c + 1) * 8);
      i_copy.load(i_rows, slab_cols - n_base, dim, (c + 1) * 8);
    }
    // A fragment (16 x 8, by rows): a[r] is row g + 8 (r % 2), dimension t + 4 (r / 2).
    uint32_t a_hi[kMi][4], a_lo[kMi][4];
#pragma unroll
    for (int mi = 0; mi < kMi; ++mi)
#pragma unroll
      for (int r = 0; r < 4; ++r)
        split_tf32(q_tile[buf][t + r / 2 * 4][wm + mi * 16 + g + r % 2 * 8], a_hi[mi][r],
                   a_lo[mi][r]);
#pragma unroll
    for (int ni = 0; ni < kNi; ++ni) {
      // B fragment (8 x 8, by columns): b[r] is dimension t + 4 r of item g.
      uint32_t b_hi[2], b_lo[2];
#pragma unroll
      for (int r = 0; r < 2; ++r)
        split_tf32(i_tile[buf][t + r * 4][wn + ni * 8 + g], b_hi[r], b_lo[r]);
#pragma unroll
      for (int mi = 0; mi < kMi; ++mi) {  // small terms first
        mma_tf32(acc[mi][ni], a_lo[mi], b_hi);
        mma_tf32(acc[mi][ni], a_hi[mi], b_lo);
        mma_tf32(acc[mi][ni], a_hi[mi], b_hi);
      }
    }
    if (more) {  // the other buffer was last read before the previous barrier
      q_copy.store(q_tile[buf ^ 1]);
      i_copy.store(i_tile[buf ^ 1]);
    }
    __syncthreads();
  }

  // Accumulator (16 x 8): acc[.][.][2 h + e] is row g + 8 h, column 2 t + e.
#pragma unroll
  for (int mi = 0; mi < kMi; ++mi) {
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int64_t row = q_base + wm + mi * 16 + g + h * 8;
      const bool row_valid = row < group_rows;
      const uint64_t threshold = row_valid ? state.thresholds[row] : ~uint64_t{0};
#pragma unroll
      for (int ni = 0; ni < kNi; ++ni)
#pragma unroll
        for (int e = 0; e < 2; ++e) {
          const int64_t n = n_base + wn + ni * 8 + 2 * t + e;
          const bool valid = row_valid && n < slab_cols;
          float score = acc[mi][ni][2 * h + e];
          // NaN comes only from an infinity or NaN in the inputs, where the split's cross
          // terms (0 x inf) would differ from float32: that pair is scored in float32.
          if (isnan(score) && valid)
            score = dot_float32(queries + (row0 + row) * dim, items + (col0 + n) * dim, dim);
          offer(state, row0, row, threshold, score, col0 + n, valid, excluded);
        }
    }
  }
}

// ---------------------------------------------------------------- launch
template <typename Shape, bool kVector>
void launch_tf32x3(const float* queries, const float* items, int64_t dim, int64_t rows,
                   int64_t row0, int64_t col0, int64_t slab, const RowState& state,
                   const DeviceExclusions& excluded, cudaStream_t stream) {
  const dim3 grid(static_cast<unsigned>((slab + Shape::kCols - 1) / Shape::kCols),
                  static_cast<unsigned>((rows + Shape::kRows - 1) / Shape::kRows));
  filter_inner_product_tf32x3<Shape, kVector><<<grid, Shape::kThreads, 0, stream>>>(
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
