// recent_clicks_same_C (online_state.h): how many of a row's recent clicks share the row
// item's value of the item column C, both looked up in the items table. The Ranker fills
// these after the state has filled recent_clicks, and before the side tables fill the rest.
#pragma once

#include <string>
#include <vector>

#include "shoprank/online/online_state.h"
#include "shoprank/transform/raw_batch.h"
#include "shoprank/transform/side_tables.h"

namespace shoprank {

// Checks at load that `items` (keyed by spec.item) has every match column, each of a
// scalar type; errors name the column.
void check_click_match(const RealtimeSpec& spec, const SideTable* items);

// Adds recent_clicks_same_C for every C of `match` the batch lacks (needs the batch's
// recent_clicks and `item` column; a row without an item, or an item or click not in the
// table, counts 0).
void fill_click_matches(RawBatch& batch, const std::string& item,
                        const std::vector<std::string>& match, const SideTable& items);

}  // namespace shoprank
