#include "shoprank/build_info.h"

#include "shoprank/detail/dot_kernel.h"
#include "shoprank/detail/threads.h"

#ifndef SHOPRANK_VERSION
#define SHOPRANK_VERSION "unknown"
#endif
#ifndef SHOPRANK_CXX_FLAGS
#define SHOPRANK_CXX_FLAGS ""
#endif
#ifndef SHOPRANK_CUDA_ARCHITECTURES
#define SHOPRANK_CUDA_ARCHITECTURES ""
#endif
#ifndef SHOPRANK_CUDA_VERSION
#define SHOPRANK_CUDA_VERSION ""
#endif

namespace shoprank {

BuildInfo build_info() {
  BuildInfo info;
  info.version = SHOPRANK_VERSION;
#if defined(__clang__)
  info.compiler = "clang " __clang_version__;
#elif defined(__GNUC__)
  info.compiler = "gcc " __VERSION__;
#else
  info.compiler = "unknown";
#endif
  info.cxx_flags = SHOPRANK_CXX_FLAGS;
#if defined(_OPENMP)
  info.openmp = true;
#endif
  info.openmp_max_threads = detail::thread_count(0);
#if defined(SHOPRANK_WITH_CUDA)
  info.cuda = true;
#endif
  info.cuda_version = SHOPRANK_CUDA_VERSION;
  info.cuda_architectures = SHOPRANK_CUDA_ARCHITECTURES;
  info.simd = SHOPRANK_SIMD;
  return info;
}

}  // namespace shoprank
