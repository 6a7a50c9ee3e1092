// Bindings of privacy/pseudonyms.h: the keyed hash the ETL applies to personal columns,
// the same code the engine runs on requests.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "shoprank/privacy/pseudonyms.h"

namespace py = pybind11;

namespace shoprank::bindings {

void bind_pseudonyms(py::module_& m) {
  m.attr("WITHOUT_KEY") = kWithoutKey;  // key_file: load with no key, the environment not read
  py::class_<Pseudonyms>(m, "Pseudonyms",
                         "Keyed pseudonyms (HMAC-SHA256) of personal ids, from a key file.\n\n"
                         "Example::\n\n"
                         "    p = Pseudonyms('user.key')\n"
                         "    p.ints(np.array([1, 2]))   # int64 pseudonyms\n"
                         "    p.strings(['alice'])      # 32 hex characters each")
      .def(py::init([](const std::string& key_file) { return Pseudonyms(read_key_file(key_file)); }),
           py::arg("key_file"))
      .def("ints", [](const Pseudonyms& p, const py::array_t<int64_t, py::array::c_style |
                                                                      py::array::forcecast>& values) {
        py::array_t<int64_t> out(values.size());
        const int64_t* in = values.data();
        int64_t* made = out.mutable_data();
        {
          py::gil_scoped_release release;
          for (py::ssize_t i = 0; i < values.size(); ++i) made[i] = p.of_int(in[i]);
        }
        return out;
      }, py::arg("values"), "the int64 pseudonym of each integer id")
      .def("strings", [](const Pseudonyms& p, const std::vector<std::string>& values) {
        std::vector<std::string> out(values.size());
        {
          py::gil_scoped_release release;
          for (size_t i = 0; i < values.size(); ++i) out[i] = p.of_string(values[i]);
        }
        return out;
      }, py::arg("values"), "the text pseudonym (32 hex characters) of each text id")
      .def_property_readonly("key_check", &Pseudonyms::key_check,
                             "identifies the key without revealing it (kept in the artifacts)");
}

}  // namespace shoprank::bindings
