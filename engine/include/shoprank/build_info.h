// What this build of the engine was compiled with.
#pragma once

#include <string>

namespace shoprank {

struct BuildInfo {
  std::string version;
  std::string compiler;
  std::string cxx_flags;
  bool openmp = false;
  int openmp_max_threads = 1;
  bool cuda = false;
  std::string cuda_version;
  std::string cuda_architectures;
  std::string simd;  // the widest vector instruction set the CPU kernels were compiled for
};

BuildInfo build_info();

}  // namespace shoprank
