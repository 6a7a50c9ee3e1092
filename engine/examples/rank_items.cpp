// A C++ service using the engine without Python: rank items for users by inner product.
// Build: cmake -S . -B build/cpp -DSHOPRANK_BUILD_EXAMPLES=ON && cmake --build build/cpp
// Run:   build/cpp/rank_items ITEMS USERS DIM K   (prints each user's best item ids)
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <vector>

#include "shoprank/build_info.h"
#include "shoprank/topk/topk.h"

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: %s ITEMS USERS DIM K\n", argv[0]);
    return 2;
  }
  const int64_t n = std::atoll(argv[1]), b = std::atoll(argv[2]), d = std::atoll(argv[3]),
                k = std::atoll(argv[4]);
  // Deterministic integer-valued vectors, so the answer can be checked exactly elsewhere.
  std::vector<float> items(n * d), users(b * d);
  for (int64_t i = 0; i < n * d; ++i) items[i] = static_cast<float>((i * 7919) % 7) - 3.0f;
  for (int64_t i = 0; i < b * d; ++i) users[i] = static_cast<float>((i * 104729) % 5) - 2.0f;

  std::vector<float> scores(b * k);
  std::vector<int64_t> ids(b * k);
  try {
    shoprank::topk_inner_product({users.data(), b, d}, {items.data(), n, d}, k, std::nullopt,
                                 {scores.data(), b, k}, {ids.data(), b, k});
  } catch (const std::invalid_argument& error) {
    std::fprintf(stderr, "bad input: %s\n", error.what());
    return 1;
  }
  std::printf("# shoprank %s\n", shoprank::build_info().version.c_str());
  for (int64_t u = 0; u < b; ++u) {
    for (int64_t j = 0; j < k; ++j) std::printf(j ? " %lld:%g" : "%lld:%g",
                                                static_cast<long long>(ids[u * k + j]),
                                                scores[u * k + j]);
    std::printf("\n");
  }
  return 0;
}
