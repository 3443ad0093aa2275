// RMSNorm (Zhang & Sennrich 2019) exactly as HF LlamaRMSNorm: normalise in fp32, cast back to
// the input dtype, then multiply by the weight.
#include <torch/torch.h>

#include "ptune/model/fused_ops.h"
#include "ptune/model/transformer.h"

namespace ptune {

RMSNormImpl::RMSNormImpl(int64_t dim, double eps_) : eps(eps_) {
  weight = register_parameter("weight", torch::ones({dim}));
}

torch::Tensor RMSNormImpl::forward(const torch::Tensor& x) {
  return rms_norm(x, weight, eps);  // (..., dim) in x's dtype
}

}  // namespace ptune
