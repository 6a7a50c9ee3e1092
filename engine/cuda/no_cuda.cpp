// The CUDA entry points of an engine built without CUDA: they report that, clearly.
#include "shoprank/errors.h"
#include "shoprank/model/forward_cuda.h"
#include "shoprank/topk/topk_cuda.h"

namespace shoprank::cuda {
namespace {
[[noreturn]] void unavailable() {
  throw DeviceError("shoprank was built without CUDA (rebuild with a CUDA compiler present, "
                    "or -Ccmake.define.SHOPRANK_CUDA=ON)");
}
}  // namespace

bool built_with_cuda() { return false; }
int device_count() { return 0; }

void topk(ConstMatrixView<float>, int64_t, std::optional<CsrView>, MatrixView<float>,
          MatrixView<int64_t>, std::uintptr_t) {
  unavailable();
}

void topk_inner_product(ConstMatrixView<float>, ConstMatrixView<float>, int64_t,
                        std::optional<CsrView>, MatrixView<float>, MatrixView<int64_t>,
                        std::uintptr_t) {
  unavailable();
}

}  // namespace shoprank::cuda

namespace shoprank::model {

struct ForwardCuda::Impl {};

ForwardCuda::ForwardCuda(const Forward&) {
  throw DeviceError("shoprank was built without CUDA (rebuild with a CUDA compiler present, "
                    "or -Ccmake.define.SHOPRANK_CUDA=ON)");
}
ForwardCuda::~ForwardCuda() = default;
std::vector<float> ForwardCuda::run(const ModelInputs&) const { return {}; }  // never built
void ForwardCuda::rank(const ModelInputs&, int64_t, std::vector<int64_t>&, std::vector<float>&) const {}

}  // namespace shoprank::model
