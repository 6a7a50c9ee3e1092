// libtriton_shoprank.so: a Triton backend that serves a shoprank Ranker inside the server's
// own process. The Python backend's `ranker` model paid for a stub process per instance
// (request tensors copied through shared memory, two process wake-ups, Python decoding the
// strings) on every request; here the engine reads a request's columns from Triton's own
// buffers, in the server's process.
//
// A model with `backend: "shoprank"` (shoprank export-triton writes one) loads
// MODEL/<version>/artifacts and reads these config parameters: step (what the model does,
// below), threads (engine CPU threads per request, 0 = all cores), max_candidates (0 = no
// limit), item_key, and candidates (how many items retrieval hands to the ranker unless the
// request says). Steps:
//   rank               a ranking request (shoprank/request.h) -> item_ids, scores  (default)
//   retrieve           a recommendation request (shoprank/recommend_request.h)
//                      -> candidate_items, the candidates' ids under the item key's name
//   score_candidates   the request's columns and the candidates' ids -> candidate_scores
//   rerank             candidate_items, candidate_scores, k and the diversity knobs
//                      -> item_ids, scores
//   observe            served events (the real-time spec's user, item, timestamp and label
//                      columns) -> observed, into the real-time state
// (retrieve, score_candidates and rerank are the `recommend` ensemble's, over artifacts
// exported with retrieval). Every model of artifacts with real-time features reads one state
// per server process (and per real-time spec): what `observe` takes in, the next request
// of any of them sees, whichever version is loaded.
// A request that names its outputs gets only those. Every request of a batch is answered on
// its own: a bad one gets an INVALID_ARG error naming what was wrong, the others theirs.
#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>

#include "shoprank/io/json.h"
#include "shoprank/ranker.h"
#include "shoprank/recommend_request.h"
#include "shoprank/recommender.h"
#include "shoprank/request.h"
#include "triton_api.h"

namespace shoprank::triton {
namespace {

// A Triton call that failed: its message, the error freed.
struct TritonCallFailed : std::runtime_error {
  using std::runtime_error::runtime_error;
};

void check(TRITONSERVER_Error* error) {
  if (error == nullptr) return;
  std::string message = TRITONSERVER_ErrorMessage(error);
  TRITONSERVER_ErrorDelete(error);
  throw TritonCallFailed(message);
}

void log(TRITONSERVER_LogLevel level, const std::string& message) {
  if (TRITONSERVER_Error* e = TRITONSERVER_LogMessage(level, __FILE__, __LINE__, message.c_str()))
    TRITONSERVER_ErrorDelete(e);
}

// Bad input is the client's fault (INVALID_ARG); anything else is ours (INTERNAL).
template <typename Work>
TRITONSERVER_Error* guarded(const std::string& who, Work&& work) {
  try {
    work();
    return nullptr;
  } catch (const std::invalid_argument& e) {
    return TRITONSERVER_ErrorNew(TRITONSERVER_ERROR_INVALID_ARG, (who + ": " + e.what()).c_str());
  } catch (const std::exception& e) {
    return TRITONSERVER_ErrorNew(TRITONSERVER_ERROR_INTERNAL, (who + ": " + e.what()).c_str());
  }
}

uint64_t now_ns() {  // Triton's statistics are on the steady clock
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch()).count();
}

enum class Step { Rank, Retrieve, ScoreCandidates, Rerank, Observe };

Step parse_step(const std::string& name) {
  if (name == "rank") return Step::Rank;
  if (name == "retrieve") return Step::Retrieve;
  if (name == "score_candidates") return Step::ScoreCandidates;
  if (name == "rerank") return Step::Rerank;
  if (name == "observe") return Step::Observe;
  throw std::invalid_argument("parameter step: expected rank, retrieve, score_candidates, "
                              "rerank or observe, got \"" + name + "\"");
}

// The process's real-time states, one per spec and pseudonym key (the state holds ids as
// the artifacts know them): kept for the process's life, so that a model version loaded in
// place of another reads what the old one was fed.
std::shared_ptr<OnlineState> shared_online_state(const Ranker& ranker) {
  static std::mutex mutex;
  static std::map<std::string, std::shared_ptr<OnlineState>> states;
  const RealtimeSpec& s = ranker.online_state()->spec();
  const std::string key = s.user + "\n" + s.item + "\n" + s.timestamp + "\n" + s.label + "\n" +
                          std::to_string(s.recent_clicks) + "\n" + std::to_string(s.window_ms) +
                          "\n" + ranker.pseudonym_key_check();
  std::lock_guard<std::mutex> lock(mutex);
  auto& state = states[key];
  if (!state) state = std::make_shared<OnlineState>(s);
  return state;
}

struct ServedModel {
  std::string name;
  Step step = Step::Rank;
  std::unique_ptr<Ranker> ranker;            // rank, observe
  std::unique_ptr<Recommender> recommender;  // the recommend ensemble's steps
  RequestRules rules;
  RecommendOptions defaults;
  int threads = 0;
};

struct MessageDelete {  // the model config message is the caller's to delete
  void operator()(TRITONSERVER_Message* message) const {
    if (TRITONSERVER_Error* e = TRITONSERVER_MessageDelete(message)) TRITONSERVER_ErrorDelete(e);
  }
};

json::Value model_config(TRITONBACKEND_Model* model) {
  TRITONSERVER_Message* message = nullptr;
  check(TRITONBACKEND_ModelConfig(model, 1, &message));
  const std::unique_ptr<TRITONSERVER_Message, MessageDelete> owned(message);
  const char* text = nullptr;
  size_t size = 0;
  check(TRITONSERVER_MessageSerializeToJson(message, &text, &size));
  return json::Value::parse(std::string_view(text, size), "config.pbtxt");
}

std::string parameter(const json::Value& config, const std::string& key,
                      const std::string& fallback) {
  if (!config.has("parameters") || !config["parameters"].has(key)) return fallback;
  return config["parameters"][key]["string_value"].as_string();
}

int64_t integer_parameter(const json::Value& config, const std::string& key, int64_t fallback) {
  const std::string text = parameter(config, key, std::to_string(fallback));
  size_t used = 0;
  int64_t value = -1;
  try {
    value = std::stoll(text, &used);
  } catch (const std::exception&) {
  }
  if (used != text.size() || value < 0)
    throw std::invalid_argument("parameter " + key + ": expected an integer >= 0, got \"" +
                                text + "\"");
  return value;
}

// What an observe request carries: the real-time spec's columns, every one required, one
// value per event; the label as the model config declares it (the event log's: INT64 or
// FP64).
RequestRules event_rules(const Ranker& ranker, const json::Value& config, int64_t max_events) {
  const auto& state = ranker.online_state();
  if (!state) throw std::invalid_argument("step observe: the artifacts have no real-time features");
  const RealtimeSpec& s = state->spec();
  RequestRules rules;
  for (const auto& input : ranker.inputs()) {
    if (input.name == s.user || input.name == s.item) rules.inputs.push_back(input);
  }
  rules.inputs.push_back({s.timestamp, InputType::TimestampMs, ""});
  InputType label = InputType::Int64;
  for (const auto& input : config["input"].items()) {
    if (input["name"].as_string() == s.label && input["data_type"].as_string() == "TYPE_FP64")
      label = InputType::Float64;
  }
  rules.inputs.push_back({s.label, label, ""});
  rules.max_candidates = max_events;
  return rules;
}

std::unique_ptr<ServedModel> load_model(TRITONBACKEND_Model* model) {
  auto served = std::make_unique<ServedModel>();
  const char* name = nullptr;
  const char* location = nullptr;
  uint64_t version = 0;
  TRITONBACKEND_ArtifactType kind;
  check(TRITONBACKEND_ModelName(model, &name));
  check(TRITONBACKEND_ModelVersion(model, &version));
  check(TRITONBACKEND_ModelRepository(model, &kind, &location));
  served->name = name;
  const json::Value config = model_config(model);
  const std::string folder = std::string(location) + "/" + std::to_string(version) + "/artifacts";
  served->step = parse_step(parameter(config, "step", "rank"));
  served->threads = static_cast<int>(integer_parameter(config, "threads", 0));
  const int64_t max_candidates = integer_parameter(config, "max_candidates", 0);
  const Ranker* ranker = nullptr;
  std::string what;
  if (served->step == Step::Rank || served->step == Step::Observe) {
    served->ranker = std::make_unique<Ranker>(Ranker::load(folder));
    if (served->ranker->online_state()) {
      served->ranker->share_online_state(shared_online_state(*served->ranker));
      what = ", real-time features";
    }
    ranker = served->ranker.get();
  } else {
    served->recommender = std::make_unique<Recommender>(Recommender::load(folder));
    if (served->recommender->ranker().online_state()) {
      served->recommender->share_online_state(shared_online_state(served->recommender->ranker()));
      what = ", real-time features";
    }
    ranker = &served->recommender->ranker();
    served->defaults.candidates = integer_parameter(config, "candidates", 500);
    served->defaults.threads = served->threads;
    what += ", " + served->recommender->retriever().kind() + " retrieval over " +
            std::to_string(served->recommender->retriever().items()) + " items";
  }
  ranker->require_pseudonym_key();  // refused at load, not at every request
  served->rules = ranker->request_rules(max_candidates);
  served->rules.item_key = parameter(config, "item_key", served->rules.item_key);
  if (served->step == Step::Observe) served->rules = event_rules(*ranker, config, max_candidates);
  log(TRITONSERVER_LOG_INFO,
      "shoprank: model '" + served->name + "' version " + std::to_string(version) + " (" +
          parameter(config, "step", "rank") + "): " + ranker->architecture() + ", " +
          std::to_string(ranker->feature_names().size()) + " features" + what + ", " +
          std::to_string(served->threads) + " engine thread(s) per request, from " + folder);
  return served;
}

// A request's tensors by name; a tensor Triton holds in several pieces is joined in `joined`.
WireTensors request_tensors(TRITONBACKEND_Request* request, std::deque<std::string>& joined) {
  WireTensors tensors;
  uint32_t count = 0;
  check(TRITONBACKEND_RequestInputCount(request, &count));
  for (uint32_t i = 0; i < count; ++i) {
    TRITONBACKEND_Input* input = nullptr;
    check(TRITONBACKEND_RequestInputByIndex(request, i, &input));
    const char* name = nullptr;
    TRITONSERVER_DataType type;
    const int64_t* shape = nullptr;
    uint32_t dims = 0, buffers = 0;
    uint64_t bytes = 0;
    check(TRITONBACKEND_InputProperties(input, &name, &type, &shape, &dims, &bytes, &buffers));
    WireTensor& t = tensors[name];
    t.type = type == TRITONSERVER_TYPE_INT64 ? WireType::Int64
             : type == TRITONSERVER_TYPE_INT32 ? WireType::Int32
             : type == TRITONSERVER_TYPE_FP32 ? WireType::Fp32
             : type == TRITONSERVER_TYPE_FP64 ? WireType::Fp64
             : type == TRITONSERVER_TYPE_BYTES ? WireType::Bytes
                                               : WireType::Other;
    t.shape.assign(shape, shape + dims);
    t.bytes = bytes;
    for (uint32_t b = 0; b < buffers; ++b) {
      const void* data = nullptr;
      uint64_t size = 0;
      TRITONSERVER_MemoryType memory = TRITONSERVER_MEMORY_CPU;
      int64_t memory_id = 0;
      check(TRITONBACKEND_InputBuffer(input, b, &data, &size, &memory, &memory_id));
      if (memory != TRITONSERVER_MEMORY_CPU && memory != TRITONSERVER_MEMORY_CPU_PINNED)
        throw std::runtime_error(std::string(name) + ": input not in host memory");
      if (buffers == 1) {
        t.data = static_cast<const char*>(data);
      } else {
        if (b == 0) joined.emplace_back().reserve(bytes);
        joined.back().append(static_cast<const char*>(data), size);
        t.data = joined.back().data();
      }
    }
  }
  return tensors;
}

// Whether the request asked for output `name` (asking for none means all).
bool wanted(TRITONBACKEND_Request* request, const std::string& name) {
  uint32_t count = 0;
  check(TRITONBACKEND_RequestOutputCount(request, &count));
  for (uint32_t i = 0; i < count; ++i) {
    const char* requested = nullptr;
    check(TRITONBACKEND_RequestOutputName(request, i, &requested));
    if (name == requested) return true;
  }
  return count == 0;
}

// One [1, elements] output of the request's response holding `size` bytes from `data`
// (nothing when the request named other outputs).
void add_output(TRITONBACKEND_Request* request, TRITONBACKEND_Response* response,
                const char* name, TRITONSERVER_DataType type, int64_t elements,
                const char* data, size_t size) {
  if (!wanted(request, name)) return;
  const int64_t shape[2] = {1, elements};
  TRITONBACKEND_Output* output = nullptr;
  check(TRITONBACKEND_ResponseOutput(response, &output, name, type, shape, 2));
  void* buffer = nullptr;
  TRITONSERVER_MemoryType memory = TRITONSERVER_MEMORY_CPU;
  int64_t memory_id = 0;
  check(TRITONBACKEND_OutputBuffer(output, &buffer, size, &memory, &memory_id));
  if (memory != TRITONSERVER_MEMORY_CPU && memory != TRITONSERVER_MEMORY_CPU_PINNED)
    throw std::runtime_error(std::string(name) + ": output buffer not in host memory");
  std::copy(data, data + size, static_cast<char*>(buffer));
}

template <typename T>
void add_output(TRITONBACKEND_Request* request, TRITONBACKEND_Response* response,
                const char* name, TRITONSERVER_DataType type, const std::vector<T>& values) {
  add_output(request, response, name, type, static_cast<int64_t>(values.size()),
             reinterpret_cast<const char*>(values.data()), values.size() * sizeof(T));
}

// Text values as Triton lays BYTES out: each a 4-byte length, then its bytes.
void add_output(TRITONBACKEND_Request* request, TRITONBACKEND_Response* response,
                const char* name, const std::vector<std::string>& values) {
  std::vector<char> laid_out;
  for (const std::string& value : values) {
    const auto length = static_cast<uint32_t>(value.size());
    const char* bytes = reinterpret_cast<const char*>(&length);
    laid_out.insert(laid_out.end(), bytes, bytes + sizeof length);
    laid_out.insert(laid_out.end(), value.begin(), value.end());
  }
  add_output(request, response, name, TRITONSERVER_TYPE_BYTES,
             static_cast<int64_t>(values.size()), laid_out.data(), laid_out.size());
}

// Item ids in the item key's type: INT64 or BYTES.
void add_ids(TRITONBACKEND_Request* request, TRITONBACKEND_Response* response, const char* name,
             const RawColumn& ids) {
  if (ids.type == InputType::String) add_output(request, response, name, ids.strings);
  else add_output(request, response, name, TRITONSERVER_TYPE_INT64, ids.ints);
}

struct Timing {
  uint64_t exec_start = 0, compute_start = 0, compute_end = 0, exec_end = 0;
};

// The steps after retrieval take what retrieve gave, or a direct request: bounded the same.
void check_candidates(int64_t candidates, int64_t max_candidates) {
  if (max_candidates > 0 && candidates > max_candidates)
    throw std::invalid_argument(std::to_string(candidates) + " candidates in one request; this "
                                "model takes at most " + std::to_string(max_candidates) +
                                " (export-triton --max-candidates)");
}

// Answers one request of the model's step into its response; throws what the client should
// be told.
void answer(const ServedModel& model, TRITONBACKEND_Request* request,
            TRITONBACKEND_Response* response, Timing& timing) {
  std::deque<std::string> joined;
  const WireTensors tensors = request_tensors(request, joined);
  const Recommender* recommender = model.recommender.get();
  switch (model.step) {
    case Step::Rank: {
      RankRequest rank = read_request(model.rules, tensors);
      const std::vector<std::string> texts = std::move(rank.item_texts);
      timing.compute_start = now_ns();
      const Ranked best = model.ranker->rank(std::move(rank), model.threads);
      timing.compute_end = now_ns();
      add_ids(request, response, "item_ids", answer_ids(best, texts));
      add_output(request, response, "scores", TRITONSERVER_TYPE_FP32, best.scores);
      return;
    }
    case Step::Retrieve: {
      const RecommendRequest r = read_recommend_request(*recommender, tensors, model.defaults,
                                                        model.rules.max_candidates);
      timing.compute_start = now_ns();
      const Retrieved found = recommender->retrieve(r.request, r.exclude, r.k,
                                                    r.options.candidates, model.threads);
      const RawColumn ids = recommender->retriever().ids(found.items);
      timing.compute_end = now_ns();
      add_output(request, response, wire::kCandidateItems.c_str(), TRITONSERVER_TYPE_INT64,
                 found.items);
      add_ids(request, response, recommender->retriever().item_key().c_str(), ids);
      return;
    }
    case Step::ScoreCandidates: {
      RawBatch columns = read_request(RequestRules{recommender->request_inputs(), "", 0},
                                      tensors, /*with_k=*/false).batch;
      RawColumn ids = read_column(recommender->retriever().item_key(),
                                  recommender->retriever().item_key_type(), tensors);
      check_candidates(ids.rows, model.rules.max_candidates);
      timing.compute_start = now_ns();
      const std::vector<float> scores =
          recommender->score(std::move(columns), std::move(ids), model.threads);
      timing.compute_end = now_ns();
      add_output(request, response, wire::kCandidateScores.c_str(), TRITONSERVER_TYPE_FP32,
                 scores);
      return;
    }
    case Step::Observe: {
      const RankRequest events = read_request(model.rules, tensors, /*with_k=*/false);
      for (const auto& input : model.rules.inputs) {
        if (!events.batch.count(input.name))
          throw std::invalid_argument("events: missing input " + input.name);
      }
      timing.compute_start = now_ns();
      const int64_t observed = model.ranker->observe(events.batch);
      timing.compute_end = now_ns();
      add_output(request, response, "observed", TRITONSERVER_TYPE_INT64,
                 std::vector<int64_t>{observed});
      return;
    }
    case Step::Rerank: {
      const ScoredCandidates candidates = read_scored_candidates(tensors);
      check_candidates(static_cast<int64_t>(candidates.items.size()), model.rules.max_candidates);
      const RecommendRequest r = read_recommend_request(*recommender, tensors, model.defaults,
                                                        model.rules.max_candidates);
      timing.compute_start = now_ns();
      const Recommended best = recommender->rerank(candidates.items, candidates.scores, r.k,
                                                   r.options);
      timing.compute_end = now_ns();
      add_ids(request, response, "item_ids", best.ids);
      add_output(request, response, "scores", TRITONSERVER_TYPE_FP32, best.scores);
      return;
    }
  }
}

void execute(TRITONBACKEND_ModelInstance* instance, const ServedModel& model,
             TRITONBACKEND_Request** requests, uint32_t count) {
  Timing batch;
  uint64_t answered = 0;
  batch.exec_start = now_ns();
  for (uint32_t i = 0; i < count; ++i) {
    TRITONBACKEND_Request* request = requests[i];
    Timing timing;
    timing.exec_start = now_ns();
    TRITONBACKEND_Response* response = nullptr;
    TRITONSERVER_Error* failure = TRITONBACKEND_ResponseNew(&response, request);
    bool sent = false;
    if (failure == nullptr) {
      failure = guarded(model.name, [&] { answer(model, request, response, timing); });
      if (TRITONSERVER_Error* e = TRITONBACKEND_ResponseSend(response, kTritonResponseCompleteFinal,
                                                             failure)) {
        log(TRITONSERVER_LOG_ERROR, "shoprank: a response could not be sent: " +
                                        std::string(TRITONSERVER_ErrorMessage(e)));
        TRITONSERVER_ErrorDelete(e);
      } else {
        sent = true;
      }
    } else {
      log(TRITONSERVER_LOG_ERROR, "shoprank: no response could be made for a request: " +
                                      std::string(TRITONSERVER_ErrorMessage(failure)));
    }
    timing.exec_end = now_ns();
    const bool ok = sent && failure == nullptr;
    if (failure) TRITONSERVER_ErrorDelete(failure);
    if (ok) {
      if (!answered) batch.compute_start = timing.compute_start;
      batch.compute_end = timing.compute_end;
      ++answered;
    }
    if (TRITONSERVER_Error* e = TRITONBACKEND_ModelInstanceReportStatistics(
            instance, request, ok, timing.exec_start, timing.compute_start, timing.compute_end,
            timing.exec_end))
      TRITONSERVER_ErrorDelete(e);
    if (TRITONSERVER_Error* e = TRITONBACKEND_RequestRelease(request, kTritonRequestReleaseAll))
      TRITONSERVER_ErrorDelete(e);
  }
  batch.exec_end = now_ns();
  if (answered) {
    if (TRITONSERVER_Error* e = TRITONBACKEND_ModelInstanceReportBatchStatistics(
            instance, answered, batch.exec_start, batch.compute_start, batch.compute_end,
            batch.exec_end))
      TRITONSERVER_ErrorDelete(e);
  }
}

ServedModel* served_model(TRITONBACKEND_Model* model) {
  void* state = nullptr;
  check(TRITONBACKEND_ModelState(model, &state));
  return static_cast<ServedModel*>(state);
}

}  // namespace
}  // namespace shoprank::triton

using namespace shoprank::triton;

#define SHOPRANK_TRITON_EXPORT extern "C" __attribute__((visibility("default")))

SHOPRANK_TRITON_EXPORT TRITONSERVER_Error* TRITONBACKEND_Initialize(TRITONBACKEND_Backend*) {
  uint32_t major = 0, minor = 0;
  if (TRITONSERVER_Error* e = TRITONBACKEND_ApiVersion(&major, &minor)) return e;
  if (major != kTritonBackendApiMajor) {
    const std::string message = "shoprank backend: built for Triton's backend API " +
                                std::to_string(kTritonBackendApiMajor) + ".x, this server has " +
                                std::to_string(major) + "." + std::to_string(minor);
    return TRITONSERVER_ErrorNew(TRITONSERVER_ERROR_UNSUPPORTED, message.c_str());
  }
  return nullptr;
}

SHOPRANK_TRITON_EXPORT TRITONSERVER_Error* TRITONBACKEND_ModelInitialize(
    TRITONBACKEND_Model* model) {
  return guarded("shoprank backend", [&] {
    std::unique_ptr<ServedModel> served = load_model(model);
    check(TRITONBACKEND_ModelSetState(model, served.get()));
    served.release();  // ModelFinalize deletes it
  });
}

SHOPRANK_TRITON_EXPORT TRITONSERVER_Error* TRITONBACKEND_ModelFinalize(
    TRITONBACKEND_Model* model) {
  return guarded("shoprank backend", [&] { delete served_model(model); });
}

SHOPRANK_TRITON_EXPORT TRITONSERVER_Error* TRITONBACKEND_ModelInstanceExecute(
    TRITONBACKEND_ModelInstance* instance, TRITONBACKEND_Request** requests,
    const uint32_t request_count) {
  // An error returned here hands every request back to Triton, so it is returned only
  // before any request was touched.
  ServedModel* model = nullptr;
  if (TRITONSERVER_Error* e = guarded("shoprank backend", [&] {
        TRITONBACKEND_Model* owner = nullptr;
        check(TRITONBACKEND_ModelInstanceModel(instance, &owner));
        model = served_model(owner);
      }))
    return e;
  execute(instance, *model, requests, request_count);
  return nullptr;
}
