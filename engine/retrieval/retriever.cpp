#include "shoprank/retrieval/retriever.h"

#include <algorithm>

#include "shoprank/errors.h"
#include "shoprank/topk/topk.h"

namespace shoprank {

namespace {
ConstMatrixView<float> matrix(const TensorFile& tensors, const std::string& name, int64_t rows,
                              int64_t dim) {
  const Tensor& t = tensors.get(name);
  SHOPRANK_EXPECTS(t.dtype == DType::F32 && t.shape.size() == 2 && t.shape[0] == rows &&
                       t.shape[1] == dim,
                   name, ": expected F32 [", rows, ", ", dim, "]");
  return {reinterpret_cast<const float*>(t.data), rows, dim};
}
}  // namespace

Retriever::Retriever(const json::Value& section, const TensorFile& tensors) {
  const std::string where = section.path();
  SHOPRANK_EXPECTS(section["format"].as_string() == "shoprank-retrieval", where,
                   ": not a shoprank retrieval section");
  SHOPRANK_EXPECTS(section["version"].as_int() == 1, where, ": retrieval format version ",
                   section["version"].as_int(), ", this engine reads version 1");
  kind_ = section["kind"].as_string();
  const int64_t dim = section["dim"].as_int();
  SHOPRANK_EXPECTS(dim >= 1, where, ": dim must be >= 1");
  const json::Value& user = section["user"];
  const json::Value& item = section["item"];
  user_key_ = user["key"].as_string();
  item_key_ = item["key"].as_string();
  user_index_ = KeyIndex(tensors, user["keys"].as_string(), user["key_type"].as_string(),
                         user.path());
  item_index_ = KeyIndex(tensors, item["keys"].as_string(), item["key_type"].as_string(),
                         item.path());
  user_vectors_ = matrix(tensors, user["vectors"].as_string(), user_index_.size(), dim);
  items_ = matrix(tensors, item["vectors"].as_string(), item_index_.size(), dim);
  SHOPRANK_EXPECTS(items_.rows >= 1, where, ": an empty catalogue");
  if (item_index_.type() == KeyType::Int64) {
    item_int_keys_ = tensors.data<int64_t>(item["keys"].as_string(), 1);
  } else {
    SHOPRANK_EXPECTS(item_index_.type() == KeyType::String, where,
                     ": item ids must be int64 or text");
    item_type_ = InputType::String;
    item_string_keys_ = tensors.strings(item["keys"].as_string());
  }
  auto [clicks, n] = tensors.vector<int64_t>("retrieval/item_train_clicks");
  SHOPRANK_EXPECTS(n == items_.rows, where, ": ", n, " click counts for ", items_.rows, " items");
  clicks_.assign(clicks, clicks + n);
  by_popularity_.resize(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) by_popularity_[i] = i;
  std::stable_sort(by_popularity_.begin(), by_popularity_.end(),
                   [&](int64_t a, int64_t b) { return clicks_[a] > clicks_[b]; });
  for (const json::Value& column : section["labels"].items()) {
    const std::string tensor = "retrieval/labels/" + column.as_string();
    auto [codes, count] = tensors.vector<int64_t>(tensor);
    SHOPRANK_EXPECTS(count == items_.rows, tensor, ": ", count, " labels for ", items_.rows,
                     " items");
    labels_[column.as_string()] = codes;
  }
}

int64_t Retriever::user_row(const RawBatch& request) const {
  auto found = request.find(user_key_);
  if (found == request.end() || found->second.rows < 1 || !found->second.present(0)) return -1;
  return user_index_.find(found->second, 0);
}

std::vector<int64_t> Retriever::positions(const RawColumn& ids) const {
  std::vector<int64_t> out;
  for (int64_t r = 0; r < ids.rows; ++r) {
    if (!ids.present(r)) continue;
    const int64_t position = item_index_.find(ids, r);
    if (position >= 0) out.push_back(position);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

Retrieved Retriever::retrieve(int64_t user_row, const std::vector<int64_t>& excluded, int64_t n,
                              int threads) const {
  SHOPRANK_EXPECTS(n >= 1, "candidates must be >= 1, got ", n);
  SHOPRANK_EXPECTS(user_row >= -1 && user_row < users(), "user row ", user_row, " outside [-1, ",
                   users(), ")");
  n = std::min(n, items());
  Retrieved out;
  if (user_row < 0) {  // the most clicked, in the order fixed at load (exact counts)
    out.popularity = true;
    for (int64_t p : by_popularity_) {
      if (int64_t(out.items.size()) == n) break;
      if (std::binary_search(excluded.begin(), excluded.end(), p)) continue;
      out.items.push_back(p);
      out.scores.push_back(static_cast<float>(clicks_[p]));
    }
    return out;
  }
  const int64_t offsets[2] = {0, static_cast<int64_t>(excluded.size())};
  const CsrView exclude{offsets, excluded.data(), 1};
  out.scores.resize(static_cast<size_t>(n));
  out.items.resize(static_cast<size_t>(n));
  TopKOptions options;
  options.num_threads = threads;
  const ConstMatrixView<float> query{user_vectors_.row(user_row), 1, user_vectors_.cols};
  topk_inner_product(query, items_, n, exclude, MatrixView<float>{out.scores.data(), 1, n},
                     MatrixView<int64_t>{out.items.data(), 1, n}, options);
  // top-k pads with -1 where the exclusions leave fewer than n
  const auto kept = std::find(out.items.begin(), out.items.end(), int64_t{-1}) - out.items.begin();
  out.items.resize(static_cast<size_t>(kept));
  out.scores.resize(static_cast<size_t>(kept));
  return out;
}

RawColumn Retriever::ids(const std::vector<int64_t>& positions) const {
  RawColumn column;
  column.type = item_type_;
  column.rows = static_cast<int64_t>(positions.size());
  for (int64_t p : positions) {
    SHOPRANK_EXPECTS(p >= 0 && p < items(), "catalogue position ", p, " outside [0, ", items(),
                     ")");
    if (item_int_keys_) column.ints.push_back(item_int_keys_[p]);
    else column.strings.push_back(item_string_keys_[static_cast<size_t>(p)]);
  }
  return column;
}

std::vector<std::string> Retriever::label_columns() const {
  std::vector<std::string> names;
  for (const auto& entry : labels_) names.push_back(entry.first);
  return names;
}

const int64_t* Retriever::labels(const std::string& column) const {
  auto found = labels_.find(column);
  if (found != labels_.end()) return found->second;
  std::string known;
  for (const auto& name : label_columns()) known += (known.empty() ? "" : ", ") + name;
  detail::throw_invalid("no labels for item column \"", column, "\" to cap by (the items table's "
                        "int64 / text columns: ", known.empty() ? "none" : known, ")");
}

}  // namespace shoprank
