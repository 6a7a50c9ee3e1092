// shoprank._engine: the Python face of the native engine. Thin: checks at the boundary,
// the GIL released around engine calls, engine exceptions translated.
#include <pybind11/pybind11.h>

#include "shoprank/build_info.h"
#include "shoprank/errors.h"

namespace py = pybind11;

namespace shoprank::bindings {
void bind_topk(py::module_& m);
void bind_diversity(py::module_& m);
void bind_ranker(py::module_& m);
void bind_online_state(py::module_& m);
void bind_request(py::module_& m);
void bind_recommend(py::module_& m);
void bind_pseudonyms(py::module_& m);
}

PYBIND11_MODULE(_engine, m) {
  m.doc() = "shoprank's native ranking engine (C++/CUDA).";

  // std::invalid_argument already maps to ValueError; device failures get their own type.
  py::register_exception<shoprank::DeviceError>(m, "DeviceError", PyExc_RuntimeError);

  m.def("build_info", [] {
    const shoprank::BuildInfo info = shoprank::build_info();
    py::dict d;
    d["version"] = info.version;
    d["compiler"] = info.compiler;
    d["cxx_flags"] = info.cxx_flags;
    d["openmp"] = info.openmp;
    d["openmp_max_threads"] = info.openmp_max_threads;
    d["cuda"] = info.cuda;
    d["cuda_version"] = info.cuda_version;
    d["cuda_architectures"] = info.cuda_architectures;
    d["simd"] = info.simd;
    return d;
  }, "What the engine was compiled with.");

  shoprank::bindings::bind_topk(m);
  shoprank::bindings::bind_diversity(m);
  shoprank::bindings::bind_online_state(m);
  shoprank::bindings::bind_ranker(m);
  shoprank::bindings::bind_request(m);
  shoprank::bindings::bind_recommend(m);
  shoprank::bindings::bind_pseudonyms(m);
}
