// Ranks one request with an exported model, from C++ alone (no Python):
//
//   rank_request ARTIFACTS K [name=value ...] ITEM_ID...
//
// name=value pairs are the request's own columns (user_id=7 device=app timestamp=1708473600000
// position=0), typed as the artifacts declare them (timestamps in ms since the epoch; an
// empty value is a null); the remaining arguments are candidate item ids, whose item
// columns come from the exported item table. Prints "item_id score" lines, best first.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include "shoprank/ranker.h"

namespace {

shoprank::RawColumn one_value(shoprank::InputType type, const std::string& text) {
  shoprank::RawColumn c;
  c.type = type;
  c.rows = 1;
  c.valid = {static_cast<uint8_t>(!text.empty())};
  switch (type) {
    case shoprank::InputType::Int64:
    case shoprank::InputType::TimestampMs:
      c.ints = {text.empty() ? 0 : std::stoll(text)};
      break;
    case shoprank::InputType::Float64:
      c.floats = {text.empty() ? std::nan("") : std::stod(text)};
      break;
    case shoprank::InputType::String:
      c.strings = {text};
      break;
    case shoprank::InputType::StringList:  // comma-separated elements
      c.offsets = {0};
      for (size_t start = 0; !text.empty() && start <= text.size();) {
        const size_t end = std::min(text.find(',', start), text.size());
        c.strings.push_back(text.substr(start, end - start));
        start = end + 1;
      }
      c.offsets.push_back(static_cast<int64_t>(c.strings.size()));
      break;
  }
  return c;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s ARTIFACTS K [name=value ...] ITEM_ID...\n", argv[0]);
    return 2;
  }
  try {
    const shoprank::Ranker ranker = shoprank::Ranker::load(argv[1]);
    const int64_t k = std::stoll(argv[2]);
    shoprank::RawBatch request;
    shoprank::RawColumn items;
    items.type = shoprank::InputType::Int64;
    for (int i = 3; i < argc; ++i) {
      const std::string arg = argv[i];
      const size_t eq = arg.find('=');
      if (eq == std::string::npos) {  // a candidate id
        items.ints.push_back(std::stoll(arg));
        continue;
      }
      const std::string name = arg.substr(0, eq);
      shoprank::InputType type = shoprank::InputType::String;
      bool known = false;
      for (const auto& input : ranker.inputs()) {
        if (input.name == name) type = input.type, known = true;
      }
      if (!known) {
        std::fprintf(stderr, "unknown column %s\n", name.c_str());
        return 2;
      }
      request[name] = one_value(type, arg.substr(eq + 1));
    }
    items.rows = static_cast<int64_t>(items.ints.size());
    request[ranker.item_key()] = items;
    const shoprank::Ranked best = ranker.rank(request, k);
    for (size_t i = 0; i < best.rows.size(); ++i) {
      std::printf("%lld %.9g\n", static_cast<long long>(items.ints[best.rows[i]]), best.scores[i]);
    }
  } catch (const std::exception& error) {
    std::fprintf(stderr, "error: %s\n", error.what());
    return 1;
  }
  return 0;
}
