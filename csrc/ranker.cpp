// Bindings for engine/include/shoprank/ranker.h. Columns arrive normalised by
// python/shoprank/ranker/raw.py as per-type tuples; they are copied into a RawBatch under
// the GIL, and the engine then runs with the GIL released, so many Python threads can
// share one Ranker.
#include "shoprank/ranker.h"

#include <algorithm>

#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include "shoprank/errors.h"
#include "online_state.h"
#include "raw_columns.h"
#include "wire_tensors.h"

namespace py = pybind11;

namespace shoprank::bindings {

namespace {

Device parse_device(const std::string& name) {
  if (name == "cpu") return Device::Cpu;
  if (name == "cuda") return Device::Cuda;
  detail::throw_invalid("device: expected \"cpu\" or \"cuda\", got \"", name, "\"");
}

py::tuple ranked_to_python(const std::vector<int64_t>& rows, const std::vector<float>& scores) {
  return py::make_tuple(py::array_t<int64_t>(py::ssize_t(rows.size()), rows.data()),
                        py::array_t<float>(py::ssize_t(scores.size()), scores.data()));
}

py::dict features_to_python(const ModelInputs& inputs) {
  py::dict out;
  for (const auto& f : inputs.features) {
    if (!f.categorical) {
      out[py::str(f.name)] = py::array_t<float>(py::ssize_t(f.values.size()), f.values.data());
    } else if (f.list) {
      out[py::str(f.name)] = py::make_tuple(
          py::array_t<int32_t>(py::ssize_t(f.ids.size()), f.ids.data()),
          py::array_t<int64_t>(py::ssize_t(f.offsets.size()), f.offsets.data()));
    } else {
      out[py::str(f.name)] = py::array_t<int32_t>(py::ssize_t(f.ids.size()), f.ids.data());
    }
  }
  return out;
}

// The inverse of features_to_python: {feature: int ids | float values | (ids, offsets)},
// every model feature present, in the ranker's feature order; the forward checks the rest.
ModelInputs features_from_python(const Ranker& ranker, const py::dict& features) {
  for (const auto& [key, value] : features) {
    const std::string name = key.cast<std::string>();
    const auto& known = ranker.feature_names();
    SHOPRANK_EXPECTS(std::find(known.begin(), known.end(), name) != known.end(),
                     "unknown model feature \"", name, "\"");
  }
  ModelInputs inputs;
  for (const std::string& name : ranker.feature_names()) {
    SHOPRANK_EXPECTS(features.contains(name), "missing model feature \"", name, "\"");
    const py::handle value = features[py::str(name)];
    FeatureColumn f;
    f.name = name;
    int64_t rows = 0;
    try {
      if (py::isinstance<py::tuple>(value)) {
        auto parts = py::reinterpret_borrow<py::tuple>(value);
        SHOPRANK_EXPECTS(parts.size() == 2, "feature \"", name, "\": expected (ids, offsets)");
        f.list = true;
        f.ids = to_vector<int32_t>(parts[0]);
        f.offsets = to_vector<int64_t>(parts[1]);
        SHOPRANK_EXPECTS(!f.offsets.empty(), "feature \"", name, "\": no offsets");
        rows = static_cast<int64_t>(f.offsets.size()) - 1;
      } else if (py::array::ensure(value) && py::array::ensure(value).dtype().kind() == 'f') {
        f.categorical = false;
        f.values = to_vector<float>(value);
        rows = static_cast<int64_t>(f.values.size());
      } else {
        f.ids = to_vector<int32_t>(value);
        rows = static_cast<int64_t>(f.ids.size());
      }
    } catch (const py::error_already_set& e) {
      detail::throw_invalid("feature \"", name, "\": cannot read it (", e.what(), ")");
    }
    SHOPRANK_EXPECTS(inputs.features.empty() || rows == inputs.rows, "feature \"", name,
                     "\": ", rows, " rows, the others have ", inputs.rows);
    inputs.rows = rows;
    inputs.features.push_back(std::move(f));
  }
  return inputs;
}

}  // namespace

void bind_ranker(py::module_& m) {
  py::class_<Ranker>(m, "Ranker", "The native ranker of one exported model (shoprank export).")
      .def(py::init([](const std::string& folder, const std::string& key_file) {
             py::gil_scoped_release release;
             return Ranker::load(folder, key_file);
           }),
           py::arg("folder"), py::arg("key_file") = "")
      .def_property_readonly("inputs", [](const Ranker& r) {
        py::list out;
        for (const auto& s : r.inputs()) {
          out.append(py::make_tuple(s.name, input_type_name(s.type),
                                    s.table.empty() ? py::object(py::none()) : py::str(s.table)));
        }
        return out;
      }, "(name, type, side table or None) of every raw column the ranker reads")
      .def_property_readonly("online_state", &Ranker::online_state,
                             "the real-time state (OnlineState) the ranker reads, or None")
      .def("share_online_state", &Ranker::share_online_state, py::arg("state"),
           "reads (and observes into) another ranker's state: one per process")
      .def("observe", [](const Ranker& r, const py::dict& columns) {
        RawBatch batch = typed_batch(columns);
        py::gil_scoped_release release;
        return r.observe(batch);
      }, py::arg("columns"), "takes in events {name: (type, values)} (their personal ids "
         "pseudonymised first); returns how many")
      .def("realtime_columns", [](const Ranker& r, const py::dict& columns, int64_t now_ms) {
        RawBatch batch = to_batch(r, columns);
        std::vector<std::string> made = realtime::column_names();
        for (const auto& c : r.realtime_match()) made.push_back(realtime::match_column(c));
        for (const auto& name : made) batch.erase(name);
        {
          py::gil_scoped_release release;
          r.fill_realtime(batch, now_ms);
        }
        return realtime_to_python(batch, made);
      }, py::arg("columns"), py::arg("now_ms"),
         "the real-time columns of raw rows, as of each row's timestamp (or now_ms)")
      .def_property_readonly("personal_columns", &Ranker::personal_columns,
                             "the columns replaced by keyed pseudonyms at every entry")
      .def_property_readonly("has_pseudonym_key", &Ranker::has_pseudonym_key,
                             "whether the key of the personal columns was given")
      .def("require_pseudonym_key", &Ranker::require_pseudonym_key,
           "raises ValueError when the artifacts pseudonymise ids and no key was given")
      .def_property_readonly("feature_names", &Ranker::feature_names)
      .def_property_readonly("architecture", &Ranker::architecture)
      .def_property_readonly("item_key", &Ranker::item_key)
      .def("transform", [](const Ranker& r, const py::dict& columns) {
        RawBatch batch = to_batch(r, columns);
        ModelInputs inputs;
        {
          py::gil_scoped_release release;
          inputs = r.transform(std::move(batch));
        }
        return features_to_python(inputs);
      }, py::arg("columns"))
      .def("score", [](const Ranker& r, const py::dict& columns, int threads,
                       const std::string& device) {
        const Device where = parse_device(device);
        RawBatch batch = to_batch(r, columns);
        std::vector<float> scores;
        {
          py::gil_scoped_release release;
          scores = r.score(std::move(batch), threads, where);
        }
        return py::array_t<float>(py::ssize_t(scores.size()), scores.data());
      }, py::arg("columns"), py::arg("threads") = 0, py::arg("device") = "cpu")
      .def("forward", [](const Ranker& r, const py::dict& features, int threads,
                         const std::string& device) {
        const Device where = parse_device(device);
        const ModelInputs inputs = features_from_python(r, features);
        std::vector<float> scores;
        {
          py::gil_scoped_release release;
          scores = r.forward(inputs, threads, where);
        }
        return py::array_t<float>(py::ssize_t(scores.size()), scores.data());
      }, py::arg("features"), py::arg("threads") = 0, py::arg("device") = "cpu")
      .def("rank", [](const Ranker& r, const py::dict& columns, int64_t k, int threads,
                      const std::string& device) {
        const Device where = parse_device(device);
        RawBatch batch = to_batch(r, columns);
        Ranked ranked;
        {
          py::gil_scoped_release release;
          ranked = r.rank(std::move(batch), k, threads, where);
        }
        return ranked_to_python(ranked.rows, ranked.scores);
      }, py::arg("columns"), py::arg("k"), py::arg("threads") = 0, py::arg("device") = "cpu")
      // A request's tensors ({name: array [1, n]}, request.h's layout), read by the engine's
      // one request reader: the ensemble's steps and the in-process twin of the C++ backend.
      .def("transform_request", [](const Ranker& r, const py::dict& tensors,
                                   int64_t max_candidates) {
        const PyWireTensors wire = to_wire(tensors);
        RankRequest request = read_request(r.request_rules(max_candidates), wire.tensors, false);
        ModelInputs inputs;
        {
          py::gil_scoped_release release;
          inputs = r.transform(std::move(request.batch));
        }
        return features_to_python(inputs);
      }, py::arg("tensors"), py::arg("max_candidates") = 0)
      .def("forward_request", [](const Ranker& r, const py::dict& tensors, int threads) {
        const PyWireTensors wire = to_wire(tensors);
        const ModelInputs inputs = read_features(r.feature_names(), wire.tensors);
        std::vector<float> scores;
        {
          py::gil_scoped_release release;
          scores = r.forward(inputs, threads);
        }
        return py::array_t<float>(py::ssize_t(scores.size()), scores.data());
      }, py::arg("tensors"), py::arg("threads") = 0)
      .def("rank_request", [](const Ranker& r, const py::dict& tensors, int64_t max_candidates,
                              int threads) {
        const PyWireTensors wire = to_wire(tensors);
        RankRequest request = read_request(r.request_rules(max_candidates), wire.tensors);
        Ranked best;
        {
          py::gil_scoped_release release;
          best = r.rank(std::move(request), threads);
        }
        return ranked_to_python(best.ids, best.scores);
      }, py::arg("tensors"), py::arg("max_candidates") = 0, py::arg("threads") = 0);
}

}  // namespace shoprank::bindings
