#include "shoprank/model/forward.h"

#include <algorithm>
#include <cstring>
#if defined(__F16C__) && defined(__AVX__)
#include <immintrin.h>
#endif

#include "shoprank/detail/threads.h"
#include "shoprank/errors.h"

namespace shoprank::model {

namespace {
constexpr int64_t kBlockRows = 128;  // rows scored together: kernels stay in cache

// dst[d] = (or +=) the half floats src[d], widened: 8 at a time where the CPU converts them
// (F16C; the bit-by-bit half_to_float cost fp16 tables 30% of the rank time otherwise).
template <bool kAdd>
void widen_halves(const uint16_t* src, int64_t n, float* dst) {
  int64_t d = 0;
#if defined(__F16C__) && defined(__AVX__)
  for (; d + 8 <= n; d += 8) {
    __m256 v = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + d)));
    if (kAdd) v = _mm256_add_ps(v, _mm256_loadu_ps(dst + d));
    _mm256_storeu_ps(dst + d, v);
  }
#endif
  for (; d < n; ++d) dst[d] = kAdd ? dst[d] + half_to_float(src[d]) : half_to_float(src[d]);
}

// The layer's kernel: the tensor itself at fp32; stored at fp16 / bf16 (export --weights),
// widened once at load and computed in float32.
void set_kernel(Dense& layer, const TensorFile& tensors, const std::string& kernel) {
  if (tensors.get(kernel).dtype == DType::F32) {
    layer.kernel = tensors.data<float>(kernel, 2);
    return;
  }
  layer.widened = std::make_shared<const std::vector<float>>(tensors.floats(kernel, 2));
  layer.kernel = layer.widened->data();
}

Dense parse_dense(const json::Value& d, const TensorFile& tensors) {
  Dense layer;
  layer.in = d["in"].as_int();
  layer.out = d["out"].as_int();
  const std::string& kernel = d["kernel"].as_string();
  const Tensor& k = tensors.get(kernel);
  SHOPRANK_EXPECTS(k.shape.size() == 2 && k.shape[0] == layer.in && k.shape[1] == layer.out,
                   d.path(), ": tensor ", kernel, " does not have shape (", layer.in, ", ",
                   layer.out, ")");
  set_kernel(layer, tensors, kernel);
  if (!d["bias"].is_null()) {
    auto [bias, n] = tensors.vector<float>(d["bias"].as_string());
    SHOPRANK_EXPECTS(n == layer.out, d.path(), ": bias of ", n, " values for ", layer.out,
                     " outputs");
    layer.bias = bias;
  }
  layer.activation = d.has("activation") ? parse_activation(d["activation"].as_string(), d.path())
                                         : Activation::Linear;
  layer.pack();
  return layer;
}

std::vector<Dense> parse_mlp(const json::Value& layers, const TensorFile& tensors, int64_t width) {
  std::vector<Dense> out;
  for (const auto& d : layers.items()) {
    out.push_back(parse_dense(d, tensors));
    SHOPRANK_EXPECTS(out.back().in == width, d.path(), ": takes ", out.back().in,
                     " inputs, gets ", width);
    width = out.back().out;
  }
  return out;
}

int64_t width_of(const std::vector<Dense>& layers, int64_t in) {
  return layers.empty() ? in : layers.back().out;
}

int find_feature(const std::vector<std::string>& names, const std::string& name,
                 const std::string& where) {
  auto it = std::find(names.begin(), names.end(), name);
  SHOPRANK_EXPECTS(it != names.end(), where, ": the model reads feature \"", name,
                   "\", which the transform does not produce");
  return static_cast<int>(it - names.begin());
}
}  // namespace

Forward::Forward(const json::Value& model, const TensorFile& tensors,
                 const std::vector<std::string>& feature_names) {
  architecture_ = model["architecture"].as_string();
  SHOPRANK_EXPECTS(architecture_ == "dlrm" || architecture_ == "dcn", model["architecture"].path(),
                   ": unknown architecture \"", architecture_, "\"");
  read_inputs(model, tensors, feature_names);
  const int64_t head_width = architecture_ == "dlrm" ? read_dlrm(model, tensors)
                                                     : read_dcn(model, tensors);
  if (model.has("linear")) read_linear(model["linear"], tensors);
  const int64_t output_width = head_width + (has_linear() ? 1 : 0);
  output_ = parse_dense(model["output"], tensors);
  SHOPRANK_EXPECTS(output_.in == output_width && output_.out == 1, model["output"].path(),
                   ": the output layer must map ", output_width, " values to 1");
}

void Forward::read_linear(const json::Value& linear, const TensorFile& tensors) {
  const int64_t rows = linear["rows"].as_int();
  auto [table, n] = tensors.vector<float>(linear["table"].as_string());
  SHOPRANK_EXPECTS(n == rows, linear["table"].path(), ": ", n, " weights for ", rows, " rows");
  const std::string& pooling = linear["pooling"].as_string();
  SHOPRANK_EXPECTS(pooling == "mean" || pooling == "sum", linear["pooling"].path(),
                   ": pooling must be mean or sum, got \"", pooling, "\"");
  linear_mean_ = pooling == "mean";
  for (const auto& f : linear["features"].items()) {
    auto it = std::find(embedded_names_.begin(), embedded_names_.end(), f["name"].as_string());
    SHOPRANK_EXPECTS(it != embedded_names_.end(), f.path(), ": \"", f["name"].as_string(),
                     "\" is not an embedded feature");
    LinearTerm term{static_cast<int>(it - embedded_names_.begin()), f["offset"].as_int()};
    const Embedded& e = embedded_[term.embedded];
    SHOPRANK_EXPECTS(f["cardinality"].as_int() == e.cardinality && f["list"].as_bool() == e.list &&
                     term.offset >= 0 && term.offset + e.cardinality <= rows,
                     f.path(), ": another cardinality or kind than its embedding, or rows "
                     "outside the linear table");
    linear_terms_.push_back(term);
  }
  for (const auto& c : linear["continuous"].items()) {
    auto it = std::find(continuous_names_.begin(), continuous_names_.end(), c.as_string());
    SHOPRANK_EXPECTS(it != continuous_names_.end(), c.path(), ": \"", c.as_string(),
                     "\" is not a continuous feature of the model");
    linear_continuous_.push_back(continuous_[it - continuous_names_.begin()]);
  }
  auto [kernel, k] = tensors.vector<float>(linear["kernel"].as_string());
  SHOPRANK_EXPECTS(k == int64_t(linear_continuous_.size()), linear["kernel"].path(), ": ", k,
                   " weights for ", linear_continuous_.size(), " continuous features");
  auto [bias, b] = tensors.vector<float>(linear["bias"].as_string());
  SHOPRANK_EXPECTS(b == 1, linear["bias"].path(), ": expected one intercept, got ", b);
  linear_table_ = table;
  linear_kernel_ = kernel;
  linear_bias_ = bias[0];
}

void Forward::linear_logits(const ModelInputs& inputs, int64_t first, int64_t rows,
                            float* out) const {
  // summed in the Keras layer's order: features, then continuous, then the intercept
  for (int64_t r = 0; r < rows; ++r) {
    float logit = 0.0f;
    for (const LinearTerm& t : linear_terms_) {
      const Embedded& e = embedded_[t.embedded];
      const FeatureColumn& f = inputs.features[e.feature];
      const float* weights = linear_table_ + t.offset;
      if (!e.list) {
        logit += weights[f.ids[first + r]];
        continue;
      }
      const int64_t begin = f.offsets[first + r], end = f.offsets[first + r + 1];
      float sum = 0.0f;
      for (int64_t k = begin; k < end; ++k) sum += weights[f.ids[k]];
      logit += linear_mean_ && end - begin > 1 ? sum / static_cast<float>(end - begin) : sum;
    }
    for (size_t c = 0; c < linear_continuous_.size(); ++c) {
      logit += inputs.features[linear_continuous_[c]].values[first + r] * linear_kernel_[c];
    }
    out[r] = logit + linear_bias_;
  }
}

void Forward::read_inputs(const json::Value& model, const TensorFile& tensors,
                          const std::vector<std::string>& feature_names) {
  const json::Value& emb = model["embeddings"];
  table_rows_ = emb["rows"].as_int();
  dim_ = emb["dim"].as_int();
  const std::string& table = emb["table"].as_string();
  const Tensor& t = tensors.get(table);
  SHOPRANK_EXPECTS(t.shape.size() == 2 && t.shape[0] == table_rows_ && t.shape[1] == dim_,
                   emb.path(), ": the table tensor does not have shape (", table_rows_, ", ", dim_, ")");
  const std::string precision = emb.has("precision") ? emb["precision"].as_string() : "fp32";
  if (precision == "int8") {
    codes_ = tensors.data<uint8_t>(table, 2);
    for (const char* part : {"scale", "low"}) {
      auto [values, n] = tensors.vector<uint16_t>(emb[part].as_string());
      SHOPRANK_EXPECTS(n == table_rows_, emb[part].path(), ": ", n, " values for ", table_rows_,
                       " rows");
      (std::string(part) == "scale" ? scale_ : low_) = values;
    }
  } else if (precision == "fp16") {
    halves_ = tensors.data<uint16_t>(table, 2);
  } else {
    SHOPRANK_EXPECTS(precision == "fp32", emb["precision"].path(),
                     ": precision must be fp32, fp16 or int8, got \"", precision, "\"");
    table_ = tensors.data<float>(table, 2);
  }
  const std::string& pooling = emb["pooling"].as_string();
  SHOPRANK_EXPECTS(pooling == "mean" || pooling == "sum", emb["pooling"].path(),
                   ": pooling must be mean or sum, got \"", pooling, "\"");
  mean_pooling_ = pooling == "mean";
  for (const auto& f : emb["features"].items()) {
    Embedded e;
    e.feature = find_feature(feature_names, f["name"].as_string(), f.path());
    e.offset = f["offset"].as_int();
    e.cardinality = f["cardinality"].as_int();
    e.list = f["list"].as_bool();
    SHOPRANK_EXPECTS(e.offset >= 0 && e.cardinality > 0 && e.offset + e.cardinality <= table_rows_,
                     f.path(), ": rows fall outside the embedding table");
    embedded_.push_back(e);
    embedded_names_.push_back(f["name"].as_string());
  }
  for (const auto& c : model["continuous"].items()) {
    continuous_.push_back(find_feature(feature_names, c.as_string(), c.path()));
    continuous_names_.push_back(c.as_string());
  }
}

// An input of a concatenation: the bottom MLP's output, or an embedding / continuous
// feature by name.
Forward::Piece Forward::input_piece(const json::Value& v) const {
  const std::string& kind = v["kind"].as_string();
  Piece p;
  if (kind == "bottom_mlp") {
    p.kind = Piece::BottomMlp;
    return p;
  }
  const auto& names = kind == "embedding" ? embedded_names_ : continuous_names_;
  SHOPRANK_EXPECTS(kind == "embedding" || kind == "continuous", v.path(), ": unknown kind \"",
                   kind, "\"");
  auto it = std::find(names.begin(), names.end(), v["name"].as_string());
  SHOPRANK_EXPECTS(it != names.end(), v.path(), ": unknown ", kind, " \"",
                   v["name"].as_string(), "\"");
  p.kind = kind == "embedding" ? Piece::Embedding : Piece::Continuous;
  p.index = static_cast<int>(it - names.begin());
  return p;
}

int64_t Forward::read_dlrm(const json::Value& model, const TensorFile& tensors) {
  bottom_ = parse_mlp(model["bottom_mlp"], tensors, int64_t(continuous_.size()));
  SHOPRANK_EXPECTS(bottom_.empty() || width_of(bottom_, 0) == dim_, model.path(),
                   ": the bottom MLP gives ", width_of(bottom_, 0), " values, the embeddings ", dim_);
  for (const auto& v : model["interaction"]["vectors"].items()) {
    vectors_.push_back(input_piece(v));
    SHOPRANK_EXPECTS(vectors_.back().kind != Piece::Continuous, v.path(),
                     ": the dot interaction takes vectors");
    SHOPRANK_EXPECTS(vectors_.back().kind != Piece::BottomMlp || !bottom_.empty(), v.path(),
                     ": no bottom MLP");
  }
  const int64_t f = static_cast<int64_t>(vectors_.size());
  interaction_width_ = f * (f - 1) / 2;
  SHOPRANK_EXPECTS(model["interaction"]["width"].as_int() == interaction_width_,
                   model["interaction"].path(), ": width does not match its vectors");
  int64_t width = 0;
  for (const auto& name : model["top_input"].items()) {
    Piece p;
    if (name.as_string() == "interaction") {
      p.kind = Piece::Interaction;
      width += interaction_width_;
    } else if (name.as_string() == "bottom_mlp" && !bottom_.empty()) {
      p.kind = Piece::BottomMlp;
      width += dim_;
    } else {
      detail::throw_invalid(name.path(), ": unknown top input \"", name.as_string(), "\"");
    }
    top_input_.push_back(p);
  }
  top_ = parse_mlp(model["top_mlp"], tensors, width);
  return width_of(top_, width);
}

int64_t Forward::read_dcn(const json::Value& model, const TensorFile& tensors) {
  for (const auto& v : model["input"].items()) {
    x0_.push_back(input_piece(v));
    x0_width_ += x0_.back().kind == Piece::Embedding ? dim_ : 1;
  }
  for (const auto& c : model["cross"].items()) {
    Dense layer;
    layer.in = layer.out = x0_width_;
    const std::string& kernel = c["kernel"].as_string();
    const Tensor& k = tensors.get(kernel);
    SHOPRANK_EXPECTS(k.shape.size() == 2 && k.shape[0] == x0_width_ && k.shape[1] == x0_width_,
                     c.path(), ": cross kernel is not (", x0_width_, ", ", x0_width_, ")");
    set_kernel(layer, tensors, kernel);
    if (!c["bias"].is_null()) {
      auto [bias, n] = tensors.vector<float>(c["bias"].as_string());
      SHOPRANK_EXPECTS(n == x0_width_, c.path(), ": cross bias of ", n, " values");
      layer.bias = bias;
    }
    layer.pack();
    cross_.push_back(layer);
  }
  deep_ = parse_mlp(model["deep_mlp"], tensors, x0_width_);
  stacked_ = model["structure"].as_string() == "stacked";
  SHOPRANK_EXPECTS(stacked_ || model["structure"].as_string() == "parallel",
                   model["structure"].path(), ": must be stacked or parallel");
  int64_t head_width = width_of(deep_, x0_width_);
  if (!stacked_) {
    for (const auto& name : model["parallel_concat"].items()) {
      Piece p;
      p.kind = name.as_string() == "cross" ? Piece::Cross : Piece::Deep;
      SHOPRANK_EXPECTS(name.as_string() == "cross" || name.as_string() == "deep", name.path(),
                       ": unknown branch \"", name.as_string(), "\"");
      parallel_concat_.push_back(p);
    }
    head_width += x0_width_;
  }
  return head_width;
}

namespace {

// A list feature's offsets must run from 0 to its ids' count without going back: the
// gather reads ids[offsets[r], offsets[r + 1]) for row r.
void check_offsets(const FeatureColumn& f) {
  SHOPRANK_EXPECTS(f.offsets.front() == 0 && f.offsets.back() == int64_t(f.ids.size()),
                   "feature \"", f.name, "\": list offsets must run from 0 to the ",
                   f.ids.size(), " ids, got ", f.offsets.front(), " .. ", f.offsets.back());
  for (size_t r = 1; r < f.offsets.size(); ++r) {
    SHOPRANK_EXPECTS(f.offsets[r] >= f.offsets[r - 1], "feature \"", f.name,
                     "\": list offsets decrease at row ", r - 1);
  }
}

}  // namespace

void Forward::check_ids(const ModelInputs& inputs) const {
  for (const Embedded& e : embedded_) {
    const FeatureColumn& f = inputs.features.at(e.feature);
    SHOPRANK_EXPECTS(f.categorical && f.list == e.list, "feature \"", f.name,
                     "\": the model expects ", e.list ? "a list" : "one id", " per row");
    SHOPRANK_EXPECTS(!f.list || int64_t(f.offsets.size()) == inputs.rows + 1, "feature \"",
                     f.name, "\": ", f.offsets.size(), " offsets for ", inputs.rows, " rows");
    SHOPRANK_EXPECTS(f.list || int64_t(f.ids.size()) == inputs.rows, "feature \"", f.name,
                     "\": ", f.ids.size(), " ids for ", inputs.rows, " rows");
    if (f.list) check_offsets(f);
    for (int32_t id : f.ids) {
      SHOPRANK_EXPECTS(id >= 0 && id < e.cardinality, "feature \"", f.name, "\": id ", id,
                       " outside [0, ", e.cardinality, ")");
    }
  }
  for (int c : continuous_) {
    const FeatureColumn& f = inputs.features.at(c);
    SHOPRANK_EXPECTS(!f.categorical && int64_t(f.values.size()) == inputs.rows, "feature \"",
                     f.name, "\": expected ", inputs.rows, " continuous values");
  }
}

std::vector<float> Forward::run(const ModelInputs& inputs, int threads) const {
  check_ids(inputs);
  std::vector<float> out(static_cast<size_t>(inputs.rows));
  const int64_t blocks = (inputs.rows + kBlockRows - 1) / kBlockRows;
  const int workers = static_cast<int>(std::min<int64_t>(detail::thread_count(threads), blocks));
#if defined(_OPENMP)
#pragma omp parallel for schedule(static) num_threads(std::max(workers, 1)) if (workers > 1)
#endif
  for (int64_t b = 0; b < blocks; ++b) {
    const int64_t first = b * kBlockRows;
    score_block(inputs, first, std::min(kBlockRows, inputs.rows - first), out.data() + first);
  }
  return out;
}

void Forward::embed(const ModelInputs& inputs, int64_t first, int64_t rows,
                    std::vector<float>& out) const {
  const int64_t n = static_cast<int64_t>(embedded_.size());
  out.assign(static_cast<size_t>(rows * n * dim_), 0.0f);
  for (int64_t i = 0; i < n; ++i) {
    const Embedded& e = embedded_[i];
    const FeatureColumn& f = inputs.features[e.feature];
    for (int64_t r = 0; r < rows; ++r) {
      float* dst = out.data() + (r * n + i) * dim_;
      if (!e.list) {
        copy_row(e.offset + f.ids[first + r], dst);
        continue;
      }
      const int64_t begin = f.offsets[first + r], end = f.offsets[first + r + 1];
      for (int64_t k = begin; k < end; ++k) add_row(e.offset + f.ids[k], dst);
      if (mean_pooling_ && end - begin > 1) {
        const float count = static_cast<float>(end - begin);
        for (int64_t d = 0; d < dim_; ++d) dst[d] /= count;
      }
    }
  }
}

void Forward::copy_row(int64_t row, float* dst) const {
  if (table_) {
    copy_floats(table_ + row * dim_, dim_, dst);
    return;
  }
  if (halves_) {
    widen_halves<false>(halves_ + row * dim_, dim_, dst);
    return;
  }
  const uint8_t* code = codes_ + row * dim_;
  const float low = half_to_float(low_[row]), scale = half_to_float(scale_[row]);
  for (int64_t d = 0; d < dim_; ++d) dst[d] = low + scale * float(code[d]);
}

void Forward::add_row(int64_t row, float* dst) const {
  if (table_) {
    const float* src = table_ + row * dim_;
    for (int64_t d = 0; d < dim_; ++d) dst[d] += src[d];
    return;
  }
  if (halves_) {
    widen_halves<true>(halves_ + row * dim_, dim_, dst);
    return;
  }
  const uint8_t* code = codes_ + row * dim_;
  const float low = half_to_float(low_[row]), scale = half_to_float(scale_[row]);
  for (int64_t d = 0; d < dim_; ++d) dst[d] += low + scale * float(code[d]);
}

std::vector<float> Forward::table_floats() const {
  std::vector<float> out(static_cast<size_t>(table_rows_ * dim_));
  for (int64_t r = 0; r < table_rows_; ++r) copy_row(r, out.data() + r * dim_);
  return out;
}

std::vector<float> Forward::mlp(const std::vector<Dense>& layers, std::vector<float> x,
                                int64_t rows) const {
  std::vector<float> y;
  for (const Dense& layer : layers) {
    y.resize(static_cast<size_t>(rows * layer.out));
    dense_forward(layer, x.data(), layer.in, rows, y.data());
    x.swap(y);
  }
  return x;
}

void Forward::score_block(const ModelInputs& inputs, int64_t first, int64_t rows, float* out) const {
  const int64_t n_emb = static_cast<int64_t>(embedded_.size());
  const int64_t n_cont = static_cast<int64_t>(continuous_.size());
  std::vector<float> embedded, continuous(static_cast<size_t>(rows * n_cont));
  embed(inputs, first, rows, embedded);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < n_cont; ++c) {
      continuous[r * n_cont + c] = inputs.features[continuous_[c]].values[first + r];
    }
  }
  std::vector<float> hidden;
  if (architecture_ == "dlrm") {
    std::vector<float> bottom;
    if (!bottom_.empty()) bottom = mlp(bottom_, continuous, rows);
    const int64_t f = static_cast<int64_t>(vectors_.size());
    const int64_t top_width = top_.empty() ? 0 : top_.front().in;
    const int64_t width = top_.empty() ? output_.in : top_width;
    hidden.resize(static_cast<size_t>(rows * width));
    std::vector<const float*> stack(static_cast<size_t>(f));
    std::vector<float> scratch;
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t i = 0; i < f; ++i) {
        const Piece& p = vectors_[i];
        stack[i] = p.kind == Piece::BottomMlp ? bottom.data() + r * dim_
                                              : embedded.data() + (r * n_emb + p.index) * dim_;
      }
      float* h = hidden.data() + r * width;
      for (const Piece& p : top_input_) {
        if (p.kind == Piece::BottomMlp) {
          copy_floats(bottom.data() + r * dim_, dim_, h);
          h += dim_;
          continue;
        }
        dot_interaction(stack.data(), f, dim_, scratch, h);
        h += interaction_width_;
      }
    }
    hidden = mlp(top_, std::move(hidden), rows);
  } else {
    std::vector<float> x0(static_cast<size_t>(rows * x0_width_));
    for (int64_t r = 0; r < rows; ++r) {
      float* x = x0.data() + r * x0_width_;
      for (const Piece& p : x0_) {
        if (p.kind == Piece::Embedding) {
          copy_floats(embedded.data() + (r * n_emb + p.index) * dim_, dim_, x);
          x += dim_;
        } else {
          *x++ = continuous[r * n_cont + p.index];
        }
      }
    }
    std::vector<float> crossed = x0, next(x0.size());
    for (const Dense& layer : cross_) {
      cross_forward(layer, x0.data(), crossed.data(), rows, next.data());
      crossed.swap(next);
    }
    if (stacked_) {
      hidden = mlp(deep_, std::move(crossed), rows);
    } else {
      const std::vector<float> deep = mlp(deep_, x0, rows);
      const int64_t deep_width = width_of(deep_, x0_width_);
      const int64_t width = deep_width + x0_width_;
      hidden.resize(static_cast<size_t>(rows * width));
      for (int64_t r = 0; r < rows; ++r) {
        float* h = hidden.data() + r * width;
        for (const Piece& p : parallel_concat_) {
          const bool cross = p.kind == Piece::Cross;
          const float* src = cross ? crossed.data() + r * x0_width_ : deep.data() + r * deep_width;
          const int64_t n = cross ? x0_width_ : deep_width;
          std::memcpy(h, src, sizeof(float) * n);
          h += n;
        }
      }
    }
  }
  if (has_linear()) {  // the output layer reads concat(body, linear logit)
    const int64_t width = output_.in - 1;
    std::vector<float> joined(static_cast<size_t>(rows * output_.in));
    for (int64_t r = 0; r < rows; ++r) {
      copy_floats(hidden.data() + r * width, width, joined.data() + r * output_.in);
    }
    std::vector<float> logits(static_cast<size_t>(rows));
    linear_logits(inputs, first, rows, logits.data());
    for (int64_t r = 0; r < rows; ++r) joined[r * output_.in + width] = logits[r];
    hidden.swap(joined);
  }
  std::vector<float> y(static_cast<size_t>(rows));
  dense_forward(output_, hidden.data(), output_.in, rows, y.data());
  std::copy(y.begin(), y.end(), out);
}

}  // namespace shoprank::model
