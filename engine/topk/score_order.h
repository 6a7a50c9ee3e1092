// The one total order every top-k backend follows: larger scores first, NaN below every
// number, ties to the lower index. Encoded as a 64-bit key so that "better" is ">".
// python/shoprank/selection/score_order.py writes the same keys for the Python backends.
#pragma once

#include <cstdint>
#include <cstring>

#if defined(__CUDACC__)
#define SHOPRANK_HD __host__ __device__ __forceinline__
#else
#define SHOPRANK_HD inline
#endif

namespace shoprank::detail {

// Monotone map float -> uint32: a < b  <=>  key(a) < key(b); -0.0 and 0.0 share a key;
// every NaN maps to 0, below -inf.
SHOPRANK_HD uint32_t score_key(float value) {
  if (value != value) return 0u;
  value += 0.0f;  // -0.0 + 0.0 == +0.0: equal scores get equal keys
  uint32_t bits;
#if defined(__CUDA_ARCH__)
  bits = __float_as_uint(value);
#else
  std::memcpy(&bits, &value, sizeof bits);
#endif
  return (bits & 0x80000000u) ? ~bits : (bits | 0x80000000u);
}

SHOPRANK_HD float score_from_key(uint32_t key) {
  if (key == 0u) return __builtin_nanf("");
  uint32_t bits = (key & 0x80000000u) ? (key & 0x7fffffffu) : ~key;
  float value;
#if defined(__CUDA_ARCH__)
  value = __uint_as_float(bits);
#else
  std::memcpy(&value, &bits, sizeof value);
#endif
  return value;
}

// Unique per (score, index): higher key = better. 0 is reserved for "nothing" (excluded
// or padding); indices must be below 2^32.
SHOPRANK_HD uint64_t rank_key(float value, int64_t index) {
  return (static_cast<uint64_t>(score_key(value)) + 1u) << 32 |
         (0xffffffffu - static_cast<uint32_t>(index));
}

SHOPRANK_HD int64_t index_from_rank_key(uint64_t key) {
  return static_cast<int64_t>(0xffffffffu - static_cast<uint32_t>(key & 0xffffffffu));
}

SHOPRANK_HD float score_from_rank_key(uint64_t key) {
  return score_from_key(static_cast<uint32_t>((key >> 32) - 1u));
}

}  // namespace shoprank::detail
