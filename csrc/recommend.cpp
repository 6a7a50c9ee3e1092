// Bindings for engine/include/shoprank/recommender.h and recommend_request.h: the whole
// chain from Python columns (shoprank.Recommender) and from a request's tensors (the
// in-process twin of the Triton `recommend` ensemble). The engine runs with the GIL released.
#include "shoprank/recommender.h"

#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include "raw_columns.h"
#include "shoprank/recommend_request.h"
#include "wire_tensors.h"

namespace py = pybind11;

namespace shoprank::bindings {

namespace {

py::tuple recommended_to_python(const Recommended& r) {
  py::object ids;
  if (r.ids.type == InputType::String) {
    py::array out(py::dtype("O"), py::ssize_t(r.ids.strings.size()));
    for (size_t i = 0; i < r.ids.strings.size(); ++i)
      out.attr("__setitem__")(i, py::str(r.ids.strings[i]));
    ids = out;
  } else {
    ids = py::array_t<int64_t>(py::ssize_t(r.ids.ints.size()), r.ids.ints.data());
  }
  return py::make_tuple(ids, py::array_t<float>(py::ssize_t(r.scores.size()), r.scores.data()),
                        r.popularity);
}

Recommended run(const Recommender& r, RecommendRequest request) {
  py::gil_scoped_release release;
  return r.recommend(request.request, request.exclude, request.k, request.options);
}

}  // namespace

void bind_recommend(py::module_& m) {
  py::class_<Recommender>(m, "Recommender",
                          "Retrieval, ranking and the diversity re-rank of one artifact folder "
                          "(shoprank export --retrieval).")
      .def(py::init([](const std::string& folder, const std::string& key_file) {
             py::gil_scoped_release release;
             return Recommender::load(folder, key_file);
           }),
           py::arg("folder"), py::arg("key_file") = "")
      .def_property_readonly("ranker", [](const Recommender& r) { return r.ranker(); })
      .def_property_readonly("request_inputs", [](const Recommender& r) {
        py::list out;
        for (const auto& s : r.request_inputs())
          out.append(py::make_tuple(s.name, input_type_name(s.type)));
        return out;
      }, "(name, type) of the columns a request may carry")
      .def_property_readonly("user_key", [](const Recommender& r) { return r.retriever().user_key(); })
      .def_property_readonly("item_key", [](const Recommender& r) { return r.retriever().item_key(); })
      .def_property_readonly("item_key_type", [](const Recommender& r) {
        return std::string(input_type_name(r.retriever().item_key_type()));
      })
      .def_property_readonly("kind", [](const Recommender& r) { return r.retriever().kind(); })
      .def_property_readonly("items", [](const Recommender& r) { return r.retriever().items(); })
      .def_property_readonly("label_columns",
                             [](const Recommender& r) { return r.retriever().label_columns(); })
      .def("knows_user", [](const Recommender& r, const py::dict& columns) {
        return r.knows_user(to_batch(r.ranker(), columns));
      }, py::arg("columns"))
      .def("recommend", [](const Recommender& r, const py::dict& columns, const py::handle& exclude,
                           int64_t k, int64_t candidates, double relevance_weight,
                           const std::vector<std::pair<std::string, int64_t>>& caps, int threads) {
        RecommendRequest request;
        request.request = to_batch(r.ranker(), columns);
        request.exclude = to_column("exclude", r.retriever().item_key_type(), exclude);
        request.k = k;
        request.options = RecommendOptions{candidates, relevance_weight, caps, threads};
        return recommended_to_python(run(r, std::move(request)));
      }, py::arg("columns"), py::arg("exclude"), py::arg("k"), py::arg("candidates"),
         py::arg("relevance_weight"), py::arg("caps"), py::arg("threads") = 0)
      .def("recommend_request", [](const Recommender& r, const py::dict& tensors,
                                   int64_t candidates, int64_t max_candidates, int threads) {
        const PyWireTensors wire = to_wire(tensors);
        RecommendOptions defaults;
        defaults.candidates = candidates;
        defaults.threads = threads;
        return recommended_to_python(
            run(r, read_recommend_request(r, wire.tensors, defaults, max_candidates)));
      }, py::arg("tensors"), py::arg("candidates") = 500, py::arg("max_candidates") = 0,
         py::arg("threads") = 0);
}

}  // namespace shoprank::bindings
