// The users and items tables exported with the model: a request may carry only an id and
// the engine fills in that row's columns (category, brand, price, tags, ...). An unknown or
// null id gives nulls, which the transform maps to its null / unseen ids.
#pragma once

#include <string>
#include <vector>

#include "shoprank/io/json.h"
#include "shoprank/io/tensor_file.h"
#include "shoprank/transform/key_index.h"
#include "shoprank/transform/raw_batch.h"

namespace shoprank {

struct SideTable {
  std::string name, key;
  KeyIndex keys;
  std::vector<std::pair<std::string, RawColumn>> columns;  // every table row

  // The table rows of the batch's key column (-1: unknown or null key).
  std::vector<int64_t> rows_of(const RawColumn& key_column) const;
};

class SideTables {
 public:
  SideTables(const json::Value& ranker, const TensorFile& tensors);
  const std::vector<SideTable>& tables() const { return tables_; }
  // Adds to batch every table column it lacks, looked up by the table's key column
  // (columns the batch carries are kept as given). A key column of one row gives one row.
  void fill(RawBatch& batch) const;

 private:
  std::vector<SideTable> tables_;
};

// The column's rows at `rows` (-1: a null row).
RawColumn gather(const RawColumn& column, const std::vector<int64_t>& rows);

}  // namespace shoprank
