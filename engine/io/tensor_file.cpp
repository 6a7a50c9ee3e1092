#include "shoprank/io/tensor_file.h"

#include <cstring>

#include "shoprank/errors.h"
#include "shoprank/io/json.h"

namespace shoprank {

namespace {
struct DTypeInfo {
  const char* code;
  int size;
};
const DTypeInfo& info(DType d) {
  static const DTypeInfo table[] = {{"F32", 4}, {"F64", 8}, {"I32", 4}, {"I64", 8}, {"U8", 1},
                                    {"F16", 2}, {"BF16", 2}};
  return table[static_cast<int>(d)];
}
DType parse_dtype(const std::string& code, const std::string& where) {
  for (DType d : {DType::F32, DType::F64, DType::I32, DType::I64, DType::U8, DType::F16,
                  DType::BF16})
    if (code == info(d).code) return d;
  detail::throw_invalid(where, ": unsupported dtype \"", code, "\"");
}
template <typename T>
DType dtype_of();
template <> DType dtype_of<float>() { return DType::F32; }
template <> DType dtype_of<double>() { return DType::F64; }
template <> DType dtype_of<int32_t>() { return DType::I32; }
template <> DType dtype_of<int64_t>() { return DType::I64; }
template <> DType dtype_of<uint8_t>() { return DType::U8; }
template <> DType dtype_of<uint16_t>() { return DType::F16; }  // IEEE half, as its bits
}  // namespace

TensorFile::TensorFile(std::vector<uint8_t> bytes, const std::string& source)
    : bytes_(std::move(bytes)), source_(source) {
  SHOPRANK_EXPECTS(bytes_.size() >= 8, source_, ": too short to be a tensor file");
  uint64_t header_size = 0;
  for (int i = 0; i < 8; ++i) header_size |= uint64_t(bytes_[i]) << (8 * i);
  SHOPRANK_EXPECTS(header_size <= bytes_.size() - 8, source_, ": header length ", header_size,
                   " runs past the end of the file");
  const std::string_view text(reinterpret_cast<const char*>(bytes_.data() + 8), header_size);
  const json::Value header = json::Value::parse(text, source_);
  const size_t body = 8 + header_size;
  const uint64_t body_size = bytes_.size() - body;
  for (const auto& [name, entry] : header.members()) {
    if (name == "__metadata__") continue;
    Tensor t;
    t.dtype = parse_dtype(entry["dtype"].as_string(), entry.path());
    int64_t count = 1;
    for (const auto& dim : entry["shape"].items()) {
      const int64_t d = dim.as_int();
      SHOPRANK_EXPECTS(d >= 0 && d < (int64_t(1) << 40), dim.path(), ": bad dimension ", d);
      t.shape.push_back(d);
      count *= d;
      SHOPRANK_EXPECTS(count < (int64_t(1) << 40), entry.path(), ": too many elements");
    }
    const auto& offsets = entry["data_offsets"];
    const int64_t begin = offsets.at(0).as_int(), end = offsets.at(1).as_int();
    SHOPRANK_EXPECTS(0 <= begin && begin <= end && uint64_t(end) <= body_size, source_,
                     ": tensor \"", name, "\" lies outside the file");
    SHOPRANK_EXPECTS(end - begin == count * info(t.dtype).size, source_, ": tensor \"", name,
                     "\" has ", end - begin, " bytes for ", count, " elements of ",
                     info(t.dtype).code);
    SHOPRANK_EXPECTS((body + begin) % info(t.dtype).size == 0, source_, ": tensor \"", name,
                     "\" is not aligned");
    t.data = bytes_.data() + body + begin;
    t.count = count;
    tensors_[name] = t;
  }
}

const Tensor& TensorFile::get(const std::string& name) const {
  const auto it = tensors_.find(name);
  SHOPRANK_EXPECTS(it != tensors_.end(), source_, ": no tensor named \"", name, "\"");
  return it->second;
}

template <typename T>
const T* TensorFile::data(const std::string& name, int rank) const {
  const Tensor& t = get(name);
  SHOPRANK_EXPECTS(t.dtype == dtype_of<T>(), source_, ": tensor \"", name, "\" is ",
                   info(t.dtype).code, ", expected ", info(dtype_of<T>()).code);
  SHOPRANK_EXPECTS(rank < 0 || int(t.shape.size()) == rank, source_, ": tensor \"", name,
                   "\" has rank ", t.shape.size(), ", expected ", rank);
  return reinterpret_cast<const T*>(t.data);
}

template <typename T>
std::pair<const T*, int64_t> TensorFile::vector(const std::string& name) const {
  const T* p = data<T>(name, 1);
  return {p, get(name).shape[0]};
}

std::vector<float> TensorFile::floats(const std::string& name, int rank) const {
  const Tensor& t = get(name);
  SHOPRANK_EXPECTS(rank < 0 || int(t.shape.size()) == rank, source_, ": tensor \"", name,
                   "\" has rank ", t.shape.size(), ", expected ", rank);
  std::vector<float> out(static_cast<size_t>(t.count));
  if (t.dtype == DType::F32) {
    std::memcpy(out.data(), t.data, out.size() * sizeof(float));
    return out;
  }
  SHOPRANK_EXPECTS(t.dtype == DType::F16 || t.dtype == DType::BF16, source_, ": tensor \"",
                   name, "\" is ", info(t.dtype).code, ", expected F32, F16 or BF16");
  for (size_t i = 0; i < out.size(); ++i) {
    uint16_t bits;
    std::memcpy(&bits, t.data + 2 * i, sizeof bits);
    if (t.dtype == DType::F16) {
      out[i] = half_to_float(bits);
    } else {
      const uint32_t wide = uint32_t(bits) << 16;
      std::memcpy(&out[i], &wide, sizeof wide);
    }
  }
  return out;
}

std::vector<std::string> TensorFile::strings(const std::string& name) const {
  const auto [bytes, size] = vector<uint8_t>(name + ".bytes");
  const auto [offsets, n] = vector<int64_t>(name + ".offsets");
  SHOPRANK_EXPECTS(n >= 1 && offsets[0] == 0 && offsets[n - 1] == size, source_, ": text \"",
                   name, "\" has offsets that do not span its bytes");
  std::vector<std::string> out;
  out.reserve(n - 1);
  for (int64_t i = 0; i + 1 < n; ++i) {
    SHOPRANK_EXPECTS(offsets[i] <= offsets[i + 1], source_, ": text \"", name,
                     "\" has decreasing offsets");
    out.emplace_back(reinterpret_cast<const char*>(bytes) + offsets[i], offsets[i + 1] - offsets[i]);
  }
  return out;
}

template const float* TensorFile::data<float>(const std::string&, int) const;
template const double* TensorFile::data<double>(const std::string&, int) const;
template const int32_t* TensorFile::data<int32_t>(const std::string&, int) const;
template const int64_t* TensorFile::data<int64_t>(const std::string&, int) const;
template const uint8_t* TensorFile::data<uint8_t>(const std::string&, int) const;
template const uint16_t* TensorFile::data<uint16_t>(const std::string&, int) const;
template std::pair<const float*, int64_t> TensorFile::vector<float>(const std::string&) const;
template std::pair<const double*, int64_t> TensorFile::vector<double>(const std::string&) const;
template std::pair<const int32_t*, int64_t> TensorFile::vector<int32_t>(const std::string&) const;
template std::pair<const int64_t*, int64_t> TensorFile::vector<int64_t>(const std::string&) const;
template std::pair<const uint8_t*, int64_t> TensorFile::vector<uint8_t>(const std::string&) const;
template std::pair<const uint16_t*, int64_t> TensorFile::vector<uint16_t>(const std::string&) const;

}  // namespace shoprank
