// A request's tensors from Python ({name: numpy array [1, n]}, as Triton's Python backend
// hands them over; BYTES as object arrays of bytes) as the engine's WireTensors
// (shoprank/request.h), read under the GIL: numbers in place, strings laid out as Triton
// sends them (4-byte length, then the bytes).
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <deque>
#include <string>
#include <vector>

#include "shoprank/request.h"

namespace shoprank::bindings {

struct PyWireTensors {
  WireTensors tensors;
  std::vector<pybind11::array> arrays;  // the numbers' arrays, kept alive
  std::deque<std::string> strings;      // the BYTES tensors' bytes
};

PyWireTensors to_wire(const pybind11::dict& tensors);

}  // namespace shoprank::bindings
