// Binding of the real-time behaviour state (engine/include/shoprank/online/online_state.h):
// shoprank._engine.OnlineState, held by a Ranker (Ranker.online_state) or made alone.
#include "shoprank/online/online_state.h"

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "online_state.h"
#include "raw_columns.h"
#include "shoprank/errors.h"

namespace py = pybind11;

namespace shoprank::bindings {

RawBatch typed_batch(const py::dict& columns) {
  RawBatch batch;
  for (const auto& [key, value] : columns) {
    const std::string name = key.cast<std::string>();
    auto typed = py::reinterpret_borrow<py::tuple>(value);
    SHOPRANK_EXPECTS(typed.size() == 2, "column \"", name, "\": expected (type, values)");
    batch.emplace(name, to_column(name, parse_input_type(typed[0].cast<std::string>(), name),
                                  typed[1]));
  }
  return batch;
}

py::dict realtime_to_python(const RawBatch& batch, const std::vector<std::string>& names) {
  py::dict out;
  const RawColumn& recent = batch.at(realtime::kRecentClicks);
  py::list lists;
  for (int64_t row = 0; row < recent.rows; ++row) {
    py::list items;
    for (int64_t e = recent.offsets[row]; e < recent.offsets[row + 1]; ++e) {
      items.append(recent.element_present(e) ? py::object(py::str(recent.strings[e]))
                                             : py::object(py::none()));
    }
    lists.append(items);
  }
  out[py::str(realtime::kRecentClicks)] = lists;
  for (const auto& name : names) {
    if (name == realtime::kRecentClicks) continue;
    const auto& values = batch.at(name).floats;
    out[py::str(name)] = py::array_t<double>(values.size(), values.data());
  }
  return out;
}

void bind_online_state(py::module_& m) {
  py::class_<OnlineState, std::shared_ptr<OnlineState>>(
      m, "OnlineState", "Real-time behaviour state: recent clicks and windowed counters.")
      .def(py::init([](const std::string& spec_json) {
             return std::make_shared<OnlineState>(
                 RealtimeSpec::from_json(json::Value::parse(spec_json, "realtime")));
           }),
           py::arg("spec_json"), "from ranker.json's \"realtime\" section, as JSON text")
      .def_property_readonly("spec", [](const OnlineState& state) {
        const RealtimeSpec& s = state.spec();
        py::dict out;
        out["user"] = s.user, out["item"] = s.item, out["timestamp"] = s.timestamp;
        out["label"] = s.label, out["recent_clicks"] = s.recent_clicks;
        out["window_ms"] = s.window_ms, out["max_keys"] = s.max_keys;
        out["max_events_per_key"] = s.max_events_per_key;
        out["match"] = s.match;
        std::vector<std::string> columns = realtime::column_names();
        for (const auto& c : s.match) columns.push_back(realtime::match_column(c));
        out["columns"] = columns;
        return out;
      })
      .def("observe", [](OnlineState& state, const py::dict& columns) {
        RawBatch batch = typed_batch(columns);
        py::gil_scoped_release release;
        return state.observe(batch);
      }, py::arg("columns"), "takes in events {name: (type, values)}; returns how many")
      .def("fill", [](const OnlineState& state, const py::dict& columns, int64_t now_ms) {
        RawBatch batch = typed_batch(columns);
        for (const auto& name : realtime::column_names()) batch.erase(name);
        {
          py::gil_scoped_release release;
          state.fill(batch, now_ms);
        }
        return realtime_to_python(batch, realtime::column_names());
      }, py::arg("columns"), py::arg("now_ms"),
         "the real-time columns of rows {name: (type, values)}, as of each row's timestamp "
         "(or now_ms)")
      .def("stats", [](const OnlineState& state) {
        const OnlineStats s = state.stats();
        py::dict out;
        out["users"] = s.users, out["items"] = s.items, out["events"] = s.events;
        return out;
      });
}

}  // namespace shoprank::bindings
