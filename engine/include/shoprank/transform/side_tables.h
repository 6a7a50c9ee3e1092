// The users and items tables exported with the model: a request may carry only an id and
// the engine fills in that row's columns (category, brand, price, tags, ...). An unknown or
// null id gives nulls, which the transform maps to its null / unseen ids.
//
// The features that read nothing but a table's key and columns (an item's category id,
// brand id, tag ids, click-through rate, ...) are computed at load for every table row;
// a batch whose keys are all known and that carries none of the table's columns gathers
// them by row instead of computing them again (most of a request's transform otherwise:
// hash lookups of the same strings for every request).
//
// Features that read a table's columns and values the request gives once (a user's age band
// crossed with an item's category) are computed for every table row the first time a value
// is seen and kept, within a memory budget (side_tables.cpp), for the requests that give it
// again: the only state a loaded Ranker adds to, behind its own lock.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "shoprank/io/json.h"
#include "shoprank/io/tensor_file.h"
#include "shoprank/transform/feature_transform.h"
#include "shoprank/transform/key_index.h"
#include "shoprank/transform/raw_batch.h"

namespace shoprank {

struct SideTable {
  std::string name, key;
  KeyIndex keys;
  RawBatch columns;  // every table row
  std::vector<std::pair<size_t, FeatureColumn>> features;  // computed ahead, every table row
  std::vector<std::string> still_read;  // the columns that other features read as well

  struct PerValue {
    size_t feature;
    std::vector<std::string> given, read;  // its inputs from elsewhere / from this table
  };
  std::vector<PerValue> per_value;
  struct ValueCache;
  std::shared_ptr<ValueCache> cache;     // the per-value features computed so far

  // The table rows of the batch's key column (-1: unknown or null key).
  std::vector<int64_t> rows_of(const RawColumn& key_column) const;
  // Feature f for every table row with the batch's given values, all one-row columns:
  // cached, or computed and cached; nullptr when they are not one-row columns of the
  // declared types, or the cache's budget is spent (the feature is then computed per row).
  const std::vector<std::pair<size_t, FeatureColumn>>* per_value_feature(
      const PerValue& f, const RawBatch& batch, const FeatureTransform& transform) const;
};

class SideTables {
 public:
  // Loads the tables and computes ahead the features of `transform` that they can.
  SideTables(const json::Value& ranker, const TensorFile& tensors,
             const FeatureTransform& transform);
  const std::vector<SideTable>& tables() const { return tables_; }
  // Adds to batch every table column it lacks, looked up by the table's key column
  // (columns the batch carries are kept as given). A key column of one row gives one row.
  // Where every key is known and the batch carries none of a table's columns, adds only the
  // columns that features not computed ahead read, and appends the table's features (and
  // its per-value features for the batch's values) to `known` for the transform to gather.
  void fill(RawBatch& batch, std::vector<KnownFeatures>& known) const;

 private:
  std::vector<SideTable> tables_;
  const FeatureTransform* transform_;  // the Ranker's (its transform_ is declared first)

  // Adds the table's columns `names` at `rows` that the batch lacks.
  static void fill_columns(RawBatch& batch, const SideTable& table,
                           const std::vector<std::string>& names,
                           const std::vector<int64_t>& rows);
};

// The column's rows at `rows` (-1: a null row).
RawColumn gather(const RawColumn& column, const std::vector<int64_t>& rows);

}  // namespace shoprank
