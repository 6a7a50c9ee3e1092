// The real-time columns of a batch as Python values (recent_clicks as lists of str, None
// for a null element; counts as float64 arrays): for csrc/online_state.cpp and ranker.cpp.
#pragma once

#include <pybind11/pybind11.h>

#include <string>
#include <vector>

#include "shoprank/transform/raw_batch.h"

namespace shoprank::bindings {

// {name: (type name, normalised values)} (python/shoprank/ranker/raw.py) as a batch.
RawBatch typed_batch(const pybind11::dict& columns);

pybind11::dict realtime_to_python(const RawBatch& batch, const std::vector<std::string>& names);

}  // namespace shoprank::bindings
