// Raw columns from Python (normalised by python/shoprank/ranker/raw.py as per-type tuples)
// into the engine's RawBatch, copied under the GIL: for the Ranker's and the Recommender's
// bindings (csrc/ranker.cpp, csrc/recommend.cpp).
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>
#include <vector>

#include "shoprank/errors.h"
#include "shoprank/ranker.h"

namespace shoprank::bindings {

template <typename T>
std::vector<T> to_vector(const pybind11::handle& h) {
  auto a = pybind11::array_t<T, pybind11::array::c_style | pybind11::array::forcecast>::ensure(h);
  SHOPRANK_EXPECTS(a && a.ndim() == 1, "expected a 1-D array");
  return std::vector<T>(a.data(), a.data() + a.size());
}

// One column's tuple as a RawColumn of `type` (checked by the engine where it is read).
RawColumn to_column(const std::string& name, InputType type, const pybind11::handle& value);
// {name: tuple} as a batch; names the ranker does not read throw, naming those it does.
RawBatch to_batch(const Ranker& ranker, const pybind11::dict& columns);

}  // namespace shoprank::bindings
