// Named arrays from one file in the safetensors layout (written by
// python/shoprank/ranker/tensors.py): typed, shape-checked access, errors naming the tensor.
#pragma once

#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <vector>

namespace shoprank {

// F16: IEEE half, read as uint16_t bits (half_to_float); BF16: bfloat16 (the top half of a
// float's bits), read through floats()
enum class DType { F32, F64, I32, I64, U8, F16, BF16 };

// An IEEE 754 half-precision value (its bits) as a float, exactly.
inline float half_to_float(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000u) << 16;
  uint32_t exponent = (h >> 10) & 0x1fu, mantissa = h & 0x3ffu, bits;
  if (exponent == 0x1f) {
    bits = sign | 0x7f800000u | (mantissa << 13);  // inf, NaN
  } else if (exponent != 0) {
    bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
  } else if (mantissa == 0) {
    bits = sign;  // +-0
  } else {  // subnormal: normalise
    exponent = 113;
    while (!(mantissa & 0x400u)) mantissa <<= 1, --exponent;
    bits = sign | (exponent << 23) | ((mantissa & 0x3ffu) << 13);
  }
  float out;
  std::memcpy(&out, &bits, sizeof out);
  return out;
}

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
  // A float tensor's values widened to float32, whatever width it is stored at (F32, F16,
  // BF16), checking its rank (-1: any).
  std::vector<float> floats(const std::string& name, int rank = -1) const;
  // A text array stored as <name>.bytes (U8) and <name>.offsets (I64, n + 1).
  std::vector<std::string> strings(const std::string& name) const;

 private:
  std::vector<uint8_t> bytes_;
  std::map<std::string, Tensor> tensors_;
  std::string source_;
};

}  // namespace shoprank
