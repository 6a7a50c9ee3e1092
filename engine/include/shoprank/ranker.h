// The native ranking engine, for C++ services and the Python bindings alike:
//
//   shoprank::Ranker ranker = shoprank::Ranker::load("artifacts/");   // shoprank export
//   shoprank::RawBatch request = ...;  // user columns (one row) + candidate columns (n rows)
//   shoprank::Ranked best = ranker.rank(request, /*k=*/10);
//
// A loaded Ranker may be called by any number of threads at once (its mutable parts, the
// side tables' cache of per-value features and the real-time state, have their own locks
// and memory bounds). Copies share them.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "shoprank/model/forward.h"
#include "shoprank/online/online_state.h"
#include "shoprank/privacy/pseudonyms.h"
#include "shoprank/request.h"
#include "shoprank/transform/feature_transform.h"
#include "shoprank/transform/raw_batch.h"
#include "shoprank/transform/side_tables.h"

namespace shoprank {

struct Artifacts;  // io/artifacts.h

// Where the forward pass and selection run; the transform always runs on the CPU.
enum class Device { Cpu, Cuda };

struct Ranked {
  std::vector<int64_t> rows;  // candidate row indices, best first (ties: lower row first)
  std::vector<float> scores;  // their click probabilities
  std::vector<int64_t> ids;   // the rows' item ids where the request sent one per candidate
                              // (request.h's item_ids), else the rows themselves
};

// The k best of one request's scores (k checked by check_k), named by item_ids if given.
Ranked select_best(const std::vector<float>& scores, int64_t k,
                   const std::vector<int64_t>& item_ids = {});

// The answer's item ids in the item key's type: the best rows' texts where the request
// named its candidates by a text key (request.h's item_texts), else best.ids (Int64).
RawColumn answer_ids(const Ranked& best, const std::vector<std::string>& item_texts);

class Ranker {
 public:
  // Loads and checks an artifact folder (manifest sizes and hashes, format version).
  // key_file: the key of artifacts with pseudonymised ids (privacy/pseudonyms.h); "" reads
  // the file SHOPRANK_KEY_FILE names, where the artifacts need one; kWithoutKey: none.
  static Ranker load(const std::string& folder, const std::string& key_file = "");
  // The ranker of artifacts already loaded (and checked); it keeps them alive.
  static Ranker load(std::shared_ptr<const Artifacts> artifacts,
                     const std::string& key_file = "");

  const std::vector<InputSpec>& inputs() const { return transform_->inputs(); }
  const std::vector<std::string>& feature_names() const { return transform_->feature_names(); }
  const std::string& architecture() const { return forward_->architecture(); }
  const std::string& folder() const { return folder_; }
  // The input whose values name the candidates (the logs' item id column), or empty.
  const std::string& item_key() const { return item_key_; }

  // The real-time behaviour state (online_state.h) of artifacts exported with real-time
  // features, or null. transform() fills its columns where the batch lacks them, as of the
  // batch's timestamp column or else the wall clock.
  const std::shared_ptr<OnlineState>& online_state() const { return online_; }
  // Makes this ranker read (and observe into) `state`: one state shared by the models of one
  // process. Its spec must be the artifacts' own.
  void share_online_state(std::shared_ptr<OnlineState> state);
  // Takes in served events (OnlineState::observe); throws when the artifacts have no
  // real-time features.
  int64_t observe(const RawBatch& events) const;
  // Adds the real-time columns the batch lacks (the state's, then recent_clicks_same_C from
  // the items table), as of each row's timestamp or else now_ms. Its personal columns are
  // pseudonymised on the way.
  void fill_realtime(RawBatch& batch, int64_t now_ms) const;
  // The item columns C of this model's recent_clicks_same_C (its own, whatever state it reads).
  const std::vector<std::string>& realtime_match() const { return match_; }

  // The personal columns whose raw values every entry (transform, score, rank, observe,
  // fill_realtime) replaces by their keyed hashes before reading them; empty for artifacts
  // without pseudonymised ids.
  std::vector<std::string> personal_columns() const;
  // Whether the key of those columns was given (load without one: every entry given a
  // personal column throws).
  bool has_pseudonym_key() const { return personal_ && personal_->has_key(); }
  // Throws when the artifacts pseudonymise ids and their key was not given: they are of no
  // use without it (a server checks at load, not at each request).
  void require_pseudonym_key() const {
    if (personal_) personal_->require_key();
  }
  // The key check of the key the artifacts' pseudonyms were made with; empty without any.
  std::string pseudonym_key_check() const { return personal_ ? personal_->made_with() : ""; }
  // Replaces the batch's personal columns by their pseudonyms (the entries call it; a caller
  // that reads a request's ids against the artifacts itself, as the Recommender, too).
  void pseudonymise(RawBatch& batch) const;

  // Throws naming every name the ranker does not read, and the inputs it reads.
  void check_input_names(const std::vector<std::string>& names) const;
  // The model inputs of raw rows: side-table columns filled in from their keys, then the
  // fitted transform. Unknown column names, wrong types and mismatched lengths throw.
  ModelInputs transform(RawBatch batch) const;
  // Click probabilities, one per row. threads: 0 = OpenMP's default (CPU only). On
  // Device::Cuda the weights are uploaded on the first such call; without a usable device
  // it throws DeviceError.
  std::vector<float> score(RawBatch batch, int threads = 0, Device device = Device::Cpu) const;
  // Click probabilities of already transformed rows (what transform() returns; a serving
  // step's input): shapes and ids are checked, ids outside their table throw.
  std::vector<float> forward(const ModelInputs& inputs, int threads = 0,
                             Device device = Device::Cpu) const;
  // The k best rows. 1 <= k <= rows; one-row columns (the user) broadcast to every row.
  Ranked rank(RawBatch batch, int64_t k, int threads = 0, Device device = Device::Cpu) const;
  // One request read by read_request (request.h): its k and its item ids.
  Ranked rank(RankRequest request, int threads = 0, Device device = Device::Cpu) const;
  // The rules read_request applies to this ranker's requests.
  RequestRules request_rules(int64_t max_candidates = 0) const;

 private:
  Ranker() = default;
  std::string folder_, item_key_;
  std::shared_ptr<const void> storage_;  // the loaded artifacts the members point into
  std::shared_ptr<const FeatureTransform> transform_;
  std::shared_ptr<const SideTables> tables_;
  std::shared_ptr<const model::Forward> forward_;
  std::shared_ptr<const PseudonymisedColumns> personal_;  // null: no pseudonymised ids
  void fill_realtime_pseudonymised(RawBatch& batch, int64_t now_ms) const;
  struct DeviceCopy;                     // the forward on a CUDA device, made on first use
  std::shared_ptr<DeviceCopy> device_;
  std::shared_ptr<OnlineState> online_;  // possibly shared with other models
  std::vector<std::string> match_;       // this model's own real-time click matches
  const SideTable* items_ = nullptr;     // in tables_: the realtime item's table, if any
  const model::ForwardCuda& on_device() const;
};

}  // namespace shoprank
