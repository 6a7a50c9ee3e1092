// Named arrays from one file in the safetensors layout (written by
// python/shoprank/ranker/tensors.py): typed, shape-checked access, errors naming the tensor.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace shoprank {

enum class DType { F32, F64, I32, I64, U8 };

struct Tensor {
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  const uint8_t* data = nullptr;
  int64_t count = 0;  // elements
};

class TensorFile {
 public:
  TensorFile() = default;
  // Parses bytes (kept inside); `source` names the file in error messages.
  TensorFile(std::vector<uint8_t> bytes, const std::string& source);

  bool has(const std::string& name) const { return tensors_.count(name) != 0; }
  const Tensor& get(const std::string& name) const;
  // The tensor's data as T, checking its dtype and rank (-1: any rank).
  template <typename T>
  const T* data(const std::string& name, int rank = -1) const;
  // A 1-D tensor's data as T and its length.
  template <typename T>
  std::pair<const T*, int64_t> vector(const std::string& name) const;
  // A text array stored as <name>.bytes (U8) and <name>.offsets (I64, n + 1).
  std::vector<std::string> strings(const std::string& name) const;

 private:
  std::vector<uint8_t> bytes_;
  std::map<std::string, Tensor> tensors_;
  std::string source_;
};

}  // namespace shoprank
