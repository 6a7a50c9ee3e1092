// Candidate retrieval from the whole catalogue: the user's vector (a retrieval model's query
// tower, computed at export for every known user) against every item's vector by inner
// product, the best n kept, excluded items never returned. A user without a vector (an id
// the retrieval model never saw, a null, or none given) gets the most clicked items of the
// train window instead: the cold-start answer, flagged as such.
//
// Loaded from the "retrieval" section of ranker.json and its tensors (engine/io/ARTIFACTS.md,
// written by shoprank export --retrieval); the Retriever points into the loaded tensors,
// which its owner keeps alive. Stateless once loaded: any number of threads may call it.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "shoprank/io/json.h"
#include "shoprank/io/tensor_file.h"
#include "shoprank/transform/key_index.h"
#include "shoprank/transform/raw_batch.h"
#include "shoprank/views.h"

namespace shoprank {

struct Retrieved {
  std::vector<int64_t> items;  // catalogue positions, best first (ties: lower position first)
  std::vector<float> scores;   // inner products, or train clicks (as float) by popularity
  bool popularity = false;     // the user had no vector: the most clicked items
};

class Retriever {
 public:
  Retriever(const json::Value& section, const TensorFile& tensors);

  const std::string& kind() const { return kind_; }        // "two-tower" or "mf"
  const std::string& user_key() const { return user_key_; }  // raw column naming the user
  const std::string& item_key() const { return item_key_; }  // raw column naming an item
  InputType item_key_type() const { return item_type_; }     // Int64 or String
  int64_t items() const { return items_.rows; }
  int64_t users() const { return user_vectors_.rows; }
  ConstMatrixView<float> item_vectors() const { return items_; }

  // The user's row among the vectors: row 0 of the request's user key column; -1 when the
  // request has none, it is null, or the id has no vector.
  int64_t user_row(const RawBatch& request) const;
  // Catalogue positions of the ids in `ids` (the item key's type), sorted, unique; ids
  // outside the catalogue and nulls are skipped (they cannot be recommended anyway).
  std::vector<int64_t> positions(const RawColumn& ids) const;
  // The n best items for user_row (-1: by popularity) outside `excluded` (sorted
  // positions): fewer than n when the exclusions leave fewer. threads: 0 = all cores.
  Retrieved retrieve(int64_t user_row, const std::vector<int64_t>& excluded, int64_t n,
                     int threads = 0) const;
  // The ids at catalogue positions, as a column of the item key's type.
  RawColumn ids(const std::vector<int64_t>& positions) const;

  // The item-table columns with labels for the diversity caps, and one's codes per
  // catalogue position (-1: no label); an unknown column throws naming the known ones.
  std::vector<std::string> label_columns() const;
  const int64_t* labels(const std::string& column) const;

 private:
  std::string kind_, user_key_, item_key_;
  InputType item_type_ = InputType::Int64;
  KeyIndex user_index_, item_index_;
  ConstMatrixView<float> user_vectors_, items_;
  const int64_t* item_int_keys_ = nullptr;  // Int64 item keys
  std::vector<std::string> item_string_keys_;
  std::vector<int64_t> clicks_;             // train clicks per catalogue position
  std::vector<int64_t> by_popularity_;      // positions, most clicked first (ties: lower)
  std::map<std::string, const int64_t*> labels_;
};

}  // namespace shoprank
