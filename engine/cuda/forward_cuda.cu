// The forward pass on a CUDA device (model/forward_cuda.h). The same plan as the CPU
// forward (model/forward.cpp), the same order of additions within each dot product, so
// the two agree to float32 rounding; selection by the device top-k (topk/topk_cuda.h).
#include <cuda_runtime.h>

#include <algorithm>
#include <string>
#include <vector>

#include "cuda_check.h"
#include "shoprank/errors.h"
#include "shoprank/model/forward.h"
#include "shoprank/model/forward_cuda.h"
#include "shoprank/topk/topk_cuda.h"

namespace shoprank::model {

namespace {

constexpr int kTile = 16;
constexpr int kThreads = 256;

int64_t blocks_for(int64_t n) { return (n + kThreads - 1) / kThreads; }

template <typename T>
T* upload(const T* host, int64_t count) {
  T* device = nullptr;
  if (count <= 0) return nullptr;
  SHOPRANK_CUDA_CHECK(cudaMalloc(&device, sizeof(T) * count));
  SHOPRANK_CUDA_CHECK(cudaMemcpy(device, host, sizeof(T) * count, cudaMemcpyHostToDevice));
  return device;
}

// A stream and its stream-ordered scratch memory, for one call.
class Call {
 public:
  Call() { SHOPRANK_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking)); }
  ~Call() {
    for (void* p : buffers_) cudaFreeAsync(p, stream_);
    cudaStreamSynchronize(stream_);
    cudaStreamDestroy(stream_);
  }
  Call(const Call&) = delete;
  Call& operator=(const Call&) = delete;

  template <typename T>
  T* alloc(int64_t count) {
    void* p = nullptr;
    SHOPRANK_CUDA_CHECK(cudaMallocAsync(&p, sizeof(T) * std::max<int64_t>(count, 1), stream_));
    buffers_.push_back(p);
    return static_cast<T*>(p);
  }
  template <typename T>
  T* copy_in(const std::vector<T>& host) {
    T* device = alloc<T>(static_cast<int64_t>(host.size()));
    if (!host.empty()) {
      SHOPRANK_CUDA_CHECK(cudaMemcpyAsync(device, host.data(), sizeof(T) * host.size(),
                                          cudaMemcpyHostToDevice, stream_));
    }
    return device;
  }
  void launched() { SHOPRANK_CUDA_CHECK(cudaGetLastError()); }
  cudaStream_t stream() const { return stream_; }

 private:
  cudaStream_t stream_ = nullptr;
  std::vector<void*> buffers_;
};

__device__ float activate(float x, int activation) {
  switch (activation) {
    case static_cast<int>(Activation::Relu): return x > 0.0f ? x : 0.0f;
    case static_cast<int>(Activation::Sigmoid): return 1.0f / (1.0f + expf(-x));
    case static_cast<int>(Activation::Tanh): return tanhf(x);
    default: return x;
  }
}

// y (rows x out) = act(x (rows x in) . w (in x out) + b): 16 x 16 shared-memory tiles,
// rows on grid x (no 65,535 limit), additions over the input in order.
__global__ void dense_kernel(const float* x, int64_t rows, int64_t in, const float* w,
                             const float* b, int64_t out, int activation, float* y) {
  __shared__ float xs[kTile][kTile + 1], ws[kTile][kTile + 1];
  const int64_t row = int64_t(blockIdx.x) * kTile + threadIdx.y;
  const int64_t col = int64_t(blockIdx.y) * kTile + threadIdx.x;
  float acc = 0.0f;
  for (int64_t k0 = 0; k0 < in; k0 += kTile) {
    const int64_t kx = k0 + threadIdx.x, kw = k0 + threadIdx.y;
    xs[threadIdx.y][threadIdx.x] = (row < rows && kx < in) ? x[row * in + kx] : 0.0f;
    ws[threadIdx.y][threadIdx.x] = (kw < in && col < out) ? w[kw * out + col] : 0.0f;
    __syncthreads();
    for (int k = 0; k < kTile; ++k) acc = fmaf(xs[threadIdx.y][k], ws[k][threadIdx.x], acc);
    __syncthreads();
  }
  if (row < rows && col < out) y[row * out + col] = activate(acc + (b ? b[col] : 0.0f), activation);
}

// Pooled embeddings (rows x features x dim): segment s = row * features + feature owns
// table rows index[seg[s] .. seg[s+1]).
__global__ void embed_kernel(const float* table, int64_t dim, const int64_t* index,
                             const int64_t* seg, int64_t segments, bool mean, float* out) {
  const int64_t t = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (t >= segments * dim) return;
  const int64_t s = t / dim, d = t % dim;
  float sum = 0.0f;
  for (int64_t k = seg[s]; k < seg[s + 1]; ++k) sum += table[index[k] * dim + d];
  const int64_t count = seg[s + 1] - seg[s];
  out[t] = (mean && count > 1) ? sum / static_cast<float>(count) : sum;
}

// DLRM dot interaction: h[row, offset + p] = <v_i, v_j> for pair p = (pi[p], pj[p]); a
// vector source >= 0 is that embedded feature, -1 the bottom MLP's output.
__global__ void interaction_kernel(const float* embedded, int64_t features, const float* bottom,
                                   int64_t dim, const int* source, const int* pi, const int* pj,
                                   int64_t pairs, int64_t rows, float* h, int64_t h_width,
                                   int64_t offset) {
  const int64_t t = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (t >= rows * pairs) return;
  const int64_t r = t / pairs, p = t % pairs;
  const int a = source[pi[p]], c = source[pj[p]];
  const float* u = a < 0 ? bottom + r * dim : embedded + (r * features + a) * dim;
  const float* v = c < 0 ? bottom + r * dim : embedded + (r * features + c) * dim;
  float dot = 0.0f;
  for (int64_t d = 0; d < dim; ++d) dot += u[d] * v[d];
  h[r * h_width + offset + p] = dot;
}

// dst[row, offset + c] = src[row, c] for c < width.
__global__ void copy_columns(const float* src, int64_t width, int64_t rows, float* dst,
                             int64_t dst_width, int64_t offset) {
  const int64_t t = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (t >= rows * width) return;
  const int64_t r = t / width, c = t % width;
  dst[r * dst_width + offset + c] = src[t];
}

// DCN x0[row, c]: column c is component part[c] of embedded feature index[c], or (part -1)
// continuous value index[c].
__global__ void assemble_x0(const float* embedded, int64_t features, int64_t dim,
                            const float* continuous, int64_t n_continuous, const int* index,
                            const int* part, int64_t width, int64_t rows, float* x0) {
  const int64_t t = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (t >= rows * width) return;
  const int64_t r = t / width, c = t % width;
  x0[t] = part[c] < 0 ? continuous[r * n_continuous + index[c]]
                      : embedded[(r * features + index[c]) * dim + part[c]];
}

// out = x0 * projected + x (DCN-v2 cross layer).
__global__ void cross_combine(const float* x0, const float* projected, const float* x,
                              int64_t count, float* out) {
  const int64_t t = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (t < count) out[t] = x0[t] * projected[t] + x[t];
}

}  // namespace

struct ForwardCuda::Impl {
  const Forward& plan;
  float* table = nullptr;
  std::vector<Dense> bottom, top, deep, cross;  // kernels and biases in device memory
  Dense output;
  int *source = nullptr, *pi = nullptr, *pj = nullptr, *x0_index = nullptr, *x0_part = nullptr;
  int64_t pairs = 0;
  std::vector<void*> owned;

  explicit Impl(const Forward& forward) : plan(forward) {
    int devices = 0;
    if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
      cudaGetLastError();
      throw DeviceError("no CUDA device is visible");
    }
    const int64_t values = forward.table_rows_ * forward.dim_;
    if (forward.table_) {
      table = own(upload(forward.table_, values));
    } else {  // an int8 table: dequantised once, here
      const std::vector<float> rows = forward.table_floats();
      table = own(upload(rows.data(), values));
    }
    bottom = layers(forward.bottom_);
    top = layers(forward.top_);
    deep = layers(forward.deep_);
    cross = layers(forward.cross_);
    output = layers({forward.output_})[0];
    std::vector<int> src, a, b, index, part;
    for (const auto& v : forward.vectors_) src.push_back(v.kind == Forward::Piece::BottomMlp ? -1 : v.index);
    for (size_t i = 0; i < src.size(); ++i) {
      for (size_t j = i + 1; j < src.size(); ++j) a.push_back(int(i)), b.push_back(int(j));
    }
    pairs = static_cast<int64_t>(a.size());
    for (const auto& p : forward.x0_) {
      if (p.kind == Forward::Piece::Embedding) {
        for (int64_t d = 0; d < forward.dim_; ++d) index.push_back(p.index), part.push_back(int(d));
      } else {
        index.push_back(p.index), part.push_back(-1);
      }
    }
    source = own(upload(src.data(), int64_t(src.size())));
    pi = own(upload(a.data(), pairs));
    pj = own(upload(b.data(), pairs));
    x0_index = own(upload(index.data(), int64_t(index.size())));
    x0_part = own(upload(part.data(), int64_t(part.size())));
  }
  ~Impl() {
    for (void* p : owned) cudaFree(p);
  }

  template <typename T>
  T* own(T* p) {
    if (p) owned.push_back(p);
    return p;
  }

  std::vector<Dense> layers(const std::vector<Dense>& host) {
    std::vector<Dense> out;
    for (Dense d : host) {
      d.kernel = own(upload(d.kernel, d.in * d.out));
      if (d.bias) d.bias = own(upload(d.bias, d.out));
      out.push_back(d);
    }
    return out;
  }

  float* dense(Call& call, const Dense& layer, const float* x, int64_t rows) const {
    float* y = call.alloc<float>(rows * layer.out);
    const dim3 threads(kTile, kTile);
    const dim3 grid(unsigned((rows + kTile - 1) / kTile), unsigned((layer.out + kTile - 1) / kTile));
    dense_kernel<<<grid, threads, 0, call.stream()>>>(x, rows, layer.in, layer.kernel, layer.bias,
                                                       layer.out, int(layer.activation), y);
    call.launched();
    return y;
  }

  const float* mlp(Call& call, const std::vector<Dense>& layers, const float* x, int64_t rows) const {
    for (const Dense& layer : layers) x = dense(call, layer, x, rows);
    return x;
  }

  // The scores of every row, in device memory owned by `call`.
  float* scores(Call& call, const ModelInputs& inputs) const {
    const Forward& f = plan;
    const int64_t n = inputs.rows, features = int64_t(f.embedded_.size());
    const int64_t n_cont = int64_t(f.continuous_.size()), dim = f.dim_;
    // host: the table rows of every (row, feature) segment, and the continuous matrix
    std::vector<int64_t> index, seg(static_cast<size_t>(n * features + 1));
    std::vector<float> continuous(static_cast<size_t>(n * n_cont));
    index.reserve(static_cast<size_t>(n * features));
    for (int64_t r = 0; r < n; ++r) {
      for (int64_t i = 0; i < features; ++i) {
        const auto& e = f.embedded_[i];
        const FeatureColumn& c = inputs.features[e.feature];
        seg[r * features + i] = int64_t(index.size());
        if (!e.list) {
          index.push_back(e.offset + c.ids[r]);
        } else {
          for (int64_t k = c.offsets[r]; k < c.offsets[r + 1]; ++k) index.push_back(e.offset + c.ids[k]);
        }
      }
      for (int64_t j = 0; j < n_cont; ++j) {
        continuous[r * n_cont + j] = inputs.features[f.continuous_[j]].values[r];
      }
    }
    seg[n * features] = int64_t(index.size());
    std::vector<float> linear_logits(static_cast<size_t>(f.has_linear() ? n : 0));
    if (f.has_linear()) f.linear_logits(inputs, 0, n, linear_logits.data());
    const int64_t* d_index = call.copy_in(index);
    const int64_t* d_seg = call.copy_in(seg);
    const float* d_cont = call.copy_in(continuous);
    float* embedded = call.alloc<float>(n * features * dim);
    embed_kernel<<<unsigned(blocks_for(n * features * dim)), kThreads, 0, call.stream()>>>(
        table, dim, d_index, d_seg, n * features, f.mean_pooling_, embedded);
    call.launched();

    const float* hidden = nullptr;
    if (f.architecture_ == "dlrm") {
      const float* bottom_out = bottom.empty() ? nullptr : mlp(call, bottom, d_cont, n);
      const int64_t width = top.empty() ? output.in : top.front().in;
      float* h = call.alloc<float>(n * width);
      int64_t offset = 0;
      for (const auto& piece : f.top_input_) {
        if (piece.kind == Forward::Piece::BottomMlp) {
          copy_columns<<<unsigned(blocks_for(n * dim)), kThreads, 0, call.stream()>>>(
              bottom_out, dim, n, h, width, offset);
          offset += dim;
        } else {
          interaction_kernel<<<unsigned(blocks_for(n * pairs)), kThreads, 0, call.stream()>>>(
              embedded, features, bottom_out, dim, source, pi, pj, pairs, n, h, width, offset);
          offset += pairs;
        }
        call.launched();
      }
      hidden = mlp(call, top, h, n);
    } else {
      const int64_t width = f.x0_width_;
      float* x0 = call.alloc<float>(n * width);
      assemble_x0<<<unsigned(blocks_for(n * width)), kThreads, 0, call.stream()>>>(
          embedded, features, dim, d_cont, n_cont, x0_index, x0_part, width, n, x0);
      call.launched();
      const float* x = x0;
      for (const Dense& layer : cross) {
        Dense linear = layer;
        linear.activation = Activation::Linear;
        const float* projected = dense(call, linear, x, n);
        float* next = call.alloc<float>(n * width);
        cross_combine<<<unsigned(blocks_for(n * width)), kThreads, 0, call.stream()>>>(
            x0, projected, x, n * width, next);
        call.launched();
        x = next;
      }
      if (f.stacked_) {
        hidden = mlp(call, deep, x, n);
      } else {
        const float* deep_out = mlp(call, deep, x0, n);
        const int64_t deep_width = deep.empty() ? width : deep.back().out;
        const int64_t h_width = deep_width + width;
        float* h = call.alloc<float>(n * h_width);
        int64_t offset = 0;
        for (const auto& piece : f.parallel_concat_) {
          const bool is_cross = piece.kind == Forward::Piece::Cross;
          const int64_t w = is_cross ? width : deep_width;
          copy_columns<<<unsigned(blocks_for(n * w)), kThreads, 0, call.stream()>>>(
              is_cross ? x : deep_out, w, n, h, h_width, offset);
          call.launched();
          offset += w;
        }
        hidden = h;
      }
    }
    if (f.has_linear()) {  // the output layer reads concat(body, linear logit)
      const float* d_logits = call.copy_in(linear_logits);
      const int64_t width = output.in - 1;
      float* joined = call.alloc<float>(n * output.in);
      copy_columns<<<unsigned(blocks_for(n * width)), kThreads, 0, call.stream()>>>(
          hidden, width, n, joined, output.in, 0);
      call.launched();
      copy_columns<<<unsigned(blocks_for(n)), kThreads, 0, call.stream()>>>(
          d_logits, 1, n, joined, output.in, width);
      call.launched();
      hidden = joined;
    }
    return dense(call, output, hidden, n);
  }
};

ForwardCuda::ForwardCuda(const Forward& forward) : impl_(std::make_unique<Impl>(forward)) {}
ForwardCuda::~ForwardCuda() = default;

std::vector<float> ForwardCuda::run(const ModelInputs& inputs) const {
  impl_->plan.check_ids(inputs);
  std::vector<float> out(static_cast<size_t>(inputs.rows));
  if (inputs.rows == 0) return out;
  Call call;
  const float* scores = impl_->scores(call, inputs);
  SHOPRANK_CUDA_CHECK(cudaMemcpyAsync(out.data(), scores, sizeof(float) * out.size(),
                                      cudaMemcpyDeviceToHost, call.stream()));
  SHOPRANK_CUDA_CHECK(cudaStreamSynchronize(call.stream()));
  return out;
}

void ForwardCuda::rank(const ModelInputs& inputs, int64_t k, std::vector<int64_t>& rows,
                       std::vector<float>& scores) const {
  impl_->plan.check_ids(inputs);
  SHOPRANK_EXPECTS(k >= 1 && k <= inputs.rows && k <= cuda::kMaxK, "k must be between 1 and ",
                   std::min<int64_t>(inputs.rows, cuda::kMaxK), " on the device, got ", k);
  Call call;
  const float* all = impl_->scores(call, inputs);
  float* values = call.alloc<float>(k);
  int64_t* indices = call.alloc<int64_t>(k);
  cuda::topk(ConstMatrixView<float>{all, 1, inputs.rows}, k, std::nullopt,
             MatrixView<float>{values, 1, k}, MatrixView<int64_t>{indices, 1, k},
             reinterpret_cast<std::uintptr_t>(call.stream()));
  rows.resize(static_cast<size_t>(k));
  scores.resize(static_cast<size_t>(k));
  SHOPRANK_CUDA_CHECK(cudaMemcpyAsync(rows.data(), indices, sizeof(int64_t) * k,
                                      cudaMemcpyDeviceToHost, call.stream()));
  SHOPRANK_CUDA_CHECK(cudaMemcpyAsync(scores.data(), values, sizeof(float) * k,
                                      cudaMemcpyDeviceToHost, call.stream()));
  SHOPRANK_CUDA_CHECK(cudaStreamSynchronize(call.stream()));
}

}  // namespace shoprank::model
