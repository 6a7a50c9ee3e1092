// Loading a ranker artifact folder (engine/io/ARTIFACTS.md): the manifest first, every file
// checked against its size and SHA-256 before anything is parsed, then ranker.json and
// tensors.bin. Nothing in the folder is executed.
#pragma once

#include <string>

#include "shoprank/io/json.h"
#include "shoprank/io/tensor_file.h"

namespace shoprank {

inline constexpr const char* kArtifactFormat = "shoprank-ranker";
inline constexpr int kArtifactVersion = 1;

struct Artifacts {
  std::string folder;
  json::Value manifest;
  json::Value ranker;   // ranker.json
  TensorFile tensors;   // tensors.bin
};

// Throws std::invalid_argument naming the folder and the file at fault.
Artifacts load_artifacts(const std::string& folder);

}  // namespace shoprank
