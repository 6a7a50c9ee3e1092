// Bindings for engine/include/shoprank/topk/topk.h (host arrays) and topk_cuda.h (device
// pointers, passed as integers by the Python layer, which owns the device arrays).
#include "shoprank/topk/topk.h"

#include <pybind11/stl.h>

#include "arrays.h"
#include "shoprank/topk/topk_cuda.h"

namespace shoprank::bindings {

namespace {

using OptArray = std::optional<py::array>;

py::tuple topk_host(const py::array& scores, int64_t k, const OptArray& exclude_offsets,
                    const OptArray& exclude_indices, int num_threads, const OptArray& out_values,
                    const OptArray& out_indices) {
  SHOPRANK_EXPECTS(k >= 0, "k: must be >= 0, got ", k);
  const auto in = matrix_in<float>(scores, "scores");
  const auto exclude = csr_in(exclude_offsets, exclude_indices, in.rows);
  auto values = matrix_out<float>(out_values, "out_values", in.rows, k);
  auto indices = matrix_out<int64_t>(out_indices, "out_indices", in.rows, k);
  {
    py::gil_scoped_release release;
    topk(in, k, exclude, matrix_view(values), matrix_view(indices), {num_threads});
  }
  return py::make_tuple(values, indices);
}

py::tuple topk_inner_product_host(const py::array& queries, const py::array& items, int64_t k,
                                  const OptArray& exclude_offsets, const OptArray& exclude_indices,
                                  int num_threads, const OptArray& out_values,
                                  const OptArray& out_indices) {
  SHOPRANK_EXPECTS(k >= 0, "k: must be >= 0, got ", k);
  const auto q = matrix_in<float>(queries, "queries");
  const auto it = matrix_in<float>(items, "items");
  const auto exclude = csr_in(exclude_offsets, exclude_indices, q.rows);
  auto values = matrix_out<float>(out_values, "out_values", q.rows, k);
  auto indices = matrix_out<int64_t>(out_indices, "out_indices", q.rows, k);
  {
    py::gil_scoped_release release;
    topk_inner_product(q, it, k, exclude, matrix_view(values), matrix_view(indices),
                       {num_threads});
  }
  return py::make_tuple(values, indices);
}

// Device arrays: the Python layer has checked dtype, shape and contiguity from
// __cuda_array_interface__ and allocated the outputs.
template <typename T>
MatrixView<T> device_matrix(std::uintptr_t pointer, int64_t rows, int64_t cols) {
  return {reinterpret_cast<T*>(pointer), rows, cols};
}

std::optional<CsrView> device_csr(std::uintptr_t offsets, std::uintptr_t indices, int64_t rows) {
  if (offsets == 0) return std::nullopt;
  return CsrView{reinterpret_cast<const int64_t*>(offsets),
                 reinterpret_cast<const int64_t*>(indices), rows};
}

void topk_device(std::uintptr_t scores, int64_t rows, int64_t cols, int64_t k,
                 std::uintptr_t exclude_offsets, std::uintptr_t exclude_indices,
                 std::uintptr_t out_values, std::uintptr_t out_indices, std::uintptr_t stream) {
  py::gil_scoped_release release;
  cuda::topk(device_matrix<const float>(scores, rows, cols), k,
             device_csr(exclude_offsets, exclude_indices, rows),
             device_matrix<float>(out_values, rows, k), device_matrix<int64_t>(out_indices, rows, k),
             stream);
}

void topk_inner_product_device(std::uintptr_t queries, int64_t num_queries, std::uintptr_t items,
                               int64_t num_items, int64_t dim, int64_t k,
                               std::uintptr_t exclude_offsets, std::uintptr_t exclude_indices,
                               std::uintptr_t out_values, std::uintptr_t out_indices,
                               std::uintptr_t stream) {
  py::gil_scoped_release release;
  cuda::topk_inner_product(device_matrix<const float>(queries, num_queries, dim),
                           device_matrix<const float>(items, num_items, dim), k,
                           device_csr(exclude_offsets, exclude_indices, num_queries),
                           device_matrix<float>(out_values, num_queries, k),
                           device_matrix<int64_t>(out_indices, num_queries, k), stream);
}

}  // namespace

void bind_topk(py::module_& m) {
  m.def("topk", &topk_host, py::arg("scores"), py::arg("k"), py::kw_only(),
        py::arg("exclude_offsets") = py::none(), py::arg("exclude_indices") = py::none(),
        py::arg("num_threads") = 0, py::arg("out_values") = py::none(),
        py::arg("out_indices") = py::none(),
        R"doc(The k best columns of every row of a C-contiguous float32 matrix (C++ engine).

Parameters
----------
scores : numpy.ndarray, float32, shape (B, N), C-contiguous
k : int, >= 0
exclude_offsets, exclude_indices : numpy.ndarray of int64, optional
    Per-row excluded columns as CSR.
num_threads : int
    OpenMP threads; 0 uses all.
out_values, out_indices : numpy.ndarray, optional
    Buffers of shape (B, k) (float32 / int64) to write into.

Returns
-------
(values, indices) : float32 (B, k), int64 (B, k), best first, ties to the lower index,
NaN after every number, padded with (-inf, -1).

Examples
--------
>>> import numpy as np
>>> from shoprank import _engine
>>> _engine.topk(np.array([[0.1, 0.9, 0.5]], np.float32), 2)[1]
array([[1, 2]])
)doc");

  m.def("topk_inner_product", &topk_inner_product_host, py::arg("queries"), py::arg("items"),
        py::arg("k"), py::kw_only(), py::arg("exclude_offsets") = py::none(),
        py::arg("exclude_indices") = py::none(), py::arg("num_threads") = 0,
        py::arg("out_values") = py::none(), py::arg("out_indices") = py::none(),
        R"doc(Inner-product scoring fused with top-k selection (C++ engine).

Scores queries (B, d) against items (N, d) and keeps the k best items per query without
materialising the (B, N) score matrix. Arguments and results as for ``topk``.

Examples
--------
>>> import numpy as np
>>> from shoprank import _engine
>>> q = np.eye(2, dtype=np.float32); items = np.array([[1, 0], [0, 2], [3, 0]], np.float32)
>>> _engine.topk_inner_product(q, items, 1)[1]
array([[2],
       [1]])
)doc");

  m.def("cuda_topk", &topk_device, py::arg("scores_ptr"), py::arg("rows"), py::arg("cols"),
        py::arg("k"), py::arg("exclude_offsets_ptr"), py::arg("exclude_indices_ptr"),
        py::arg("out_values_ptr"), py::arg("out_indices_ptr"), py::arg("stream") = 0,
        "Top-k of a device score matrix (raw device pointers; use shoprank.topk instead).");
  m.def("cuda_topk_inner_product", &topk_inner_product_device, py::arg("queries_ptr"),
        py::arg("num_queries"), py::arg("items_ptr"), py::arg("num_items"), py::arg("dim"),
        py::arg("k"), py::arg("exclude_offsets_ptr"), py::arg("exclude_indices_ptr"),
        py::arg("out_values_ptr"), py::arg("out_indices_ptr"), py::arg("stream") = 0,
        "Fused inner-product top-k on device pointers (use shoprank.topk_inner_product).");
  m.def("cuda_built", &cuda::built_with_cuda, "Whether the engine was compiled with CUDA.");
  m.def("cuda_device_count", &cuda::device_count, "CUDA devices visible to the engine.");
  m.attr("CUDA_MAX_K") = cuda::kMaxK;
}

}  // namespace shoprank::bindings
