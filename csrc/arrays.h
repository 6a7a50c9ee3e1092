// Boundary checks for NumPy arrays handed to the engine: dtype, rank, contiguity and
// writability, each failure a ValueError that names the argument.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <optional>
#include <string>

#include "shoprank/errors.h"
#include "shoprank/views.h"

namespace shoprank::bindings {

namespace py = pybind11;

inline std::string describe(const py::array& a) {
  std::string out = py::str(a.dtype()).cast<std::string>() + " array of shape (";
  for (py::ssize_t i = 0; i < a.ndim(); ++i) out += (i ? ", " : "") + std::to_string(a.shape(i));
  return out + (a.ndim() == 1 ? ",)" : ")");
}

template <typename T>
const char* dtype_name() {
  if constexpr (std::is_same_v<T, float>) return "float32";
  else return "int64";
}

template <typename T>
void check_array(const py::array& a, const char* name, int ndim) {
  SHOPRANK_EXPECTS(py::isinstance<py::array_t<T>>(a) && a.dtype().is(py::dtype::of<T>()), name,
                   ": expected ", dtype_name<T>(), ", got ", describe(a));
  SHOPRANK_EXPECTS(a.ndim() == ndim, name, ": expected a ", ndim, "-D array, got ", describe(a));
  SHOPRANK_EXPECTS(a.flags() & py::array::c_style, name,
                   ": must be C-contiguous (use numpy.ascontiguousarray)");
}

template <typename T>
ConstMatrixView<T> matrix_in(const py::array& a, const char* name) {
  check_array<T>(a, name, 2);
  return {static_cast<const T*>(a.data()), a.shape(0), a.shape(1)};
}

// The caller's output buffer, checked, or a new array of that shape.
template <typename T>
py::array_t<T> matrix_out(const std::optional<py::array>& given, const char* name, int64_t rows,
                          int64_t cols) {
  if (!given) return py::array_t<T>({rows, cols});
  const py::array& a = *given;
  check_array<T>(a, name, 2);
  SHOPRANK_EXPECTS(a.writeable(), name, ": must be writeable");
  SHOPRANK_EXPECTS(a.shape(0) == rows && a.shape(1) == cols, name, ": expected shape (", rows,
                   ", ", cols, "), got ", describe(a));
  return py::reinterpret_borrow<py::array_t<T>>(a);
}

template <typename T>
MatrixView<T> matrix_view(py::array_t<T>& a) {
  return {a.mutable_data(), a.shape(0), a.shape(1)};
}

// exclude as CSR (offsets, indices); both or neither.
inline std::optional<CsrView> csr_in(const std::optional<py::array>& offsets,
                                     const std::optional<py::array>& indices, int64_t rows) {
  SHOPRANK_EXPECTS(offsets.has_value() == indices.has_value(),
                   "exclude: give both exclude_offsets and exclude_indices, or neither");
  if (!offsets) return std::nullopt;
  check_array<int64_t>(*offsets, "exclude_offsets", 1);
  check_array<int64_t>(*indices, "exclude_indices", 1);
  SHOPRANK_EXPECTS(offsets->shape(0) == rows + 1, "exclude_offsets: expected ", rows + 1,
                   " entries (one per query, plus one), got ", offsets->shape(0));
  const auto* off = static_cast<const int64_t*>(offsets->data());
  SHOPRANK_EXPECTS(off[rows] == indices->shape(0), "exclude_offsets: last offset ", off[rows],
                   " does not match the ", indices->shape(0), " exclude_indices");
  return CsrView{off, static_cast<const int64_t*>(indices->data()), rows};
}

}  // namespace shoprank::bindings
