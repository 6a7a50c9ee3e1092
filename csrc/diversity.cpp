// Bindings for engine/include/shoprank/diversity.h (host arrays).
#include "shoprank/diversity.h"

#include <pybind11/stl.h>

#include <string>
#include <utility>
#include <vector>

#include "arrays.h"

namespace shoprank::bindings {

namespace {

py::tuple diversify_host(const py::array& scores, const py::array& embeddings, int64_t k,
                         double relevance_weight,
                         const std::vector<std::pair<py::array, int64_t>>& caps,
                         int num_threads) {
  SHOPRANK_EXPECTS(k >= 0, "k: must be >= 0, got ", k);
  check_array<float>(scores, "scores", 1);
  const auto vectors = matrix_in<float>(embeddings, "embeddings");
  SHOPRANK_EXPECTS(vectors.rows == scores.shape(0), "embeddings: ", vectors.rows,
                   " rows for ", scores.shape(0), " scores");
  std::vector<DiversityCap> engine_caps;
  for (size_t c = 0; c < caps.size(); ++c) {
    const py::array& labels = caps[c].first;
    const std::string name = "caps[" + std::to_string(c) + "] labels";
    check_array<int64_t>(labels, name.c_str(), 1);
    SHOPRANK_EXPECTS(labels.shape(0) == vectors.rows, name, ": expected ", vectors.rows,
                     " entries (one per candidate), got ", labels.shape(0));
    engine_caps.push_back({static_cast<const int64_t*>(labels.data()), caps[c].second});
  }
  py::array_t<float> values(k);
  py::array_t<int64_t> indices(k);
  {
    py::gil_scoped_release release;  // `caps` holds the label arrays alive meanwhile
    diversify(static_cast<const float*>(scores.data()), vectors, k, relevance_weight,
              engine_caps, values.mutable_data(), indices.mutable_data(), {num_threads});
  }
  return py::make_tuple(values, indices);
}

}  // namespace

void bind_diversity(py::module_& m) {
  m.def("diversify", &diversify_host, py::arg("scores"), py::arg("embeddings"), py::arg("k"),
        py::kw_only(), py::arg("relevance_weight"),
        py::arg("caps") = std::vector<std::pair<py::array, int64_t>>{},
        py::arg("num_threads") = 0,
        R"doc(Diversity re-rank of one request: greedy MMR with label caps (C++ engine).

Semantics as for ``shoprank.diversify``, which checks its arguments more thoroughly.

Parameters
----------
scores : numpy.ndarray, float32, shape (n,)
embeddings : numpy.ndarray, float32, shape (n, d), C-contiguous, finite
k : int, >= 0
relevance_weight : float in [0, 1]
caps : list of (labels, max_per_label)
    labels int64 (n,), C-contiguous; max_per_label >= 1.
num_threads : int
    OpenMP threads; 0 uses all.

Returns
-------
(values, indices) : float32 (k,), int64 (k,), in pick order, padded with (-inf, -1).

Examples
--------
>>> import numpy as np
>>> from shoprank import _engine
>>> e = np.array([[1, 0], [1, 0], [0, 1]], np.float32)
>>> _engine.diversify(np.array([0.9, 0.8, 0.7], np.float32), e, 2, relevance_weight=0.5)[1]
array([0, 2])
)doc");
}

}  // namespace shoprank::bindings
