#include "raw_columns.h"

#include <algorithm>

#include <pybind11/stl.h>

namespace py = pybind11;

namespace shoprank::bindings {

namespace {
std::vector<uint8_t> flags(const py::handle& h) {
  return h.is_none() ? std::vector<uint8_t>() : to_vector<uint8_t>(h);
}

}  // namespace

RawColumn to_column(const std::string& name, InputType type, const py::handle& value) {
  auto parts = py::reinterpret_borrow<py::tuple>(value);
  RawColumn c;
  c.type = type;
  try {
    switch (type) {
      case InputType::Int64:
      case InputType::TimestampMs:
        c.ints = to_vector<int64_t>(parts[0]);
        c.valid = flags(parts[1]);
        c.rows = static_cast<int64_t>(c.ints.size());
        break;
      case InputType::Float64:
        c.floats = to_vector<double>(parts[0]);
        c.rows = static_cast<int64_t>(c.floats.size());
        break;
      case InputType::String:
        c.strings = parts[0].cast<std::vector<std::string>>();
        c.valid = flags(parts[1]);
        c.rows = static_cast<int64_t>(c.strings.size());
        break;
      case InputType::StringList:
        c.strings = parts[0].cast<std::vector<std::string>>();
        c.offsets = to_vector<int64_t>(parts[1]);
        c.valid = flags(parts[2]);
        c.element_valid = flags(parts[3]);
        c.rows = static_cast<int64_t>(c.offsets.size()) - 1;
        break;
    }
  } catch (const py::error_already_set& e) {
    detail::throw_invalid("column \"", name, "\": cannot read its ", input_type_name(type),
                          " values (", e.what(), ")");
  } catch (const py::cast_error& e) {
    detail::throw_invalid("column \"", name, "\": cannot read its ", input_type_name(type),
                          " values (", e.what(), ")");
  }
  return c;  // checked by the engine where it is read
}

RawBatch to_batch(const Ranker& ranker, const py::dict& columns) {
  std::vector<std::string> names;
  for (const auto& entry : columns) names.push_back(entry.first.cast<std::string>());
  ranker.check_input_names(names);
  RawBatch batch;
  for (const auto& [key, value] : columns) {
    const std::string name = key.cast<std::string>();
    const auto& inputs = ranker.inputs();
    auto spec = std::find_if(inputs.begin(), inputs.end(),
                             [&](const InputSpec& s) { return s.name == name; });
    batch.emplace(name, to_column(name, spec->type, value));
  }
  return batch;
}

}  // namespace shoprank::bindings
