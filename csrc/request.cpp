// Bindings for engine/include/shoprank/request.h, the one reader of a request's tensors:
// to_wire (numpy -> WireTensors) for the Ranker's request methods (csrc/ranker.cpp), the
// raw columns of a request for the baseline step and tests, and the ensemble's select step.
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include "shoprank/errors.h"
#include "shoprank/ranker.h"
#include "wire_tensors.h"

namespace py = pybind11;

namespace shoprank::bindings {

namespace {

WireType wire_type(const py::array& a) {
  const char kind = a.dtype().kind();
  const auto size = a.dtype().itemsize();
  if (kind == 'O' || kind == 'S' || kind == 'U') return WireType::Bytes;
  if (kind == 'i' && size == 4) return WireType::Int32;
  if (kind == 'i' && size == 8) return WireType::Int64;
  if (kind == 'f' && size == 4) return WireType::Fp32;
  if (kind == 'f' && size == 8) return WireType::Fp64;
  return WireType::Other;
}

std::string laid_out(const std::string& name, const py::array& a) {
  std::string out;
  for (const py::handle element : a.attr("ravel")()) {
    std::string value;
    if (py::isinstance<py::bytes>(element)) {
      value = element.cast<std::string>();
    } else if (py::isinstance<py::str>(element)) {
      value = element.cast<std::string>();  // UTF-8
    } else {
      detail::throw_invalid(name, ": BYTES elements must be bytes or str, got ",
                            py::str(py::type::of(element).attr("__name__")).cast<std::string>());
    }
    const auto length = static_cast<uint32_t>(value.size());
    out.append(reinterpret_cast<const char*>(&length), sizeof length);
    out += value;
  }
  return out;
}

py::object values_to_python(const RawColumn& c) {
  switch (c.type) {
    case InputType::Int64:
    case InputType::TimestampMs:
      return py::array_t<int64_t>(py::ssize_t(c.ints.size()), c.ints.data());
    case InputType::Float64:
      return py::array_t<double>(py::ssize_t(c.floats.size()), c.floats.data());
    case InputType::String:
      return py::cast(c.strings);
    case InputType::StringList: {
      py::list rows;
      for (int64_t r = 0; r < c.rows; ++r) {
        rows.append(py::cast(std::vector<std::string>(c.strings.begin() + c.offsets[r],
                                                      c.strings.begin() + c.offsets[r + 1])));
      }
      return std::move(rows);
    }
  }
  return py::none();
}

// The column's values; where some rows are null (NAME__null_rows), a list with None there.
py::object column_to_python(const RawColumn& c) {
  py::object values = values_to_python(c);
  if (c.valid.empty()) return values;
  py::list rows(values);
  for (int64_t r = 0; r < c.rows; ++r) {
    if (!c.valid[size_t(r)]) rows[size_t(r)] = py::none();
  }
  return std::move(rows);
}

py::object ids_or_none(const std::vector<int64_t>& ids) {
  if (ids.empty()) return py::none();
  return py::array_t<int64_t>(py::ssize_t(ids.size()), ids.data());
}

}  // namespace

PyWireTensors to_wire(const py::dict& tensors) {
  PyWireTensors out;
  for (const auto& [key, value] : tensors) {
    const std::string name = key.cast<std::string>();
    py::array a = py::array::ensure(value, py::array::c_style);
    SHOPRANK_EXPECTS(a, name, ": expected an array");
    WireTensor& t = out.tensors[name];
    t.type = wire_type(a);
    t.shape.assign(a.shape(), a.shape() + a.ndim());
    if (t.type == WireType::Bytes) {
      const std::string& bytes = out.strings.emplace_back(laid_out(name, a));
      t.data = bytes.data();
      t.bytes = bytes.size();
    } else {
      t.data = static_cast<const char*>(a.data());
      t.bytes = static_cast<uint64_t>(a.nbytes());
      out.arrays.push_back(std::move(a));
    }
  }
  return out;
}

void bind_request(py::module_& m) {
  m.def("read_request", [](const std::vector<std::pair<std::string, std::string>>& inputs,
                           const py::dict& tensors, int64_t max_candidates,
                           const std::string& item_key, bool with_k) {
    RequestRules rules{{}, item_key, max_candidates};
    for (const auto& [name, type] : inputs) {
      rules.inputs.push_back(InputSpec{name, parse_input_type(type, name), ""});
    }
    const PyWireTensors wire = to_wire(tensors);
    const RankRequest request = read_request(rules, wire.tensors, with_k);
    py::dict columns;
    for (const auto& [name, column] : request.batch) columns[py::str(name)] = column_to_python(column);
    py::dict out;
    out["columns"] = columns;
    out["candidates"] = request.candidates;
    out["k"] = with_k ? py::object(py::int_(request.k)) : py::object(py::none());
    out["item_ids"] = request.item_texts.empty() ? ids_or_none(request.item_ids)
                                                 : py::cast(request.item_texts);
    return out;
  }, py::arg("inputs"), py::arg("tensors"), py::arg("max_candidates") = 0,
     py::arg("item_key") = "", py::arg("with_k") = true,
     "A request's raw columns (inputs: (name, type) pairs), candidates, k and item ids, "
     "read and checked by the engine's one request reader.");

  m.def("select_request", [](const py::dict& tensors, const std::string& item_key) {
    const PyWireTensors wire = to_wire(tensors);
    const ScoredRequest request = read_scored(item_key, wire.tensors);
    const Ranked best = select_best(request.scores, request.k, request.item_ids);
    return py::make_tuple(values_to_python(answer_ids(best, request.item_texts)),
                          py::array_t<float>(py::ssize_t(best.scores.size()),
                                             best.scores.data()));
  }, py::arg("tensors"), py::arg("item_key") = "",
     "The ensemble's select step: (item ids, scores) of the k best candidate_scores.");
}

}  // namespace shoprank::bindings
