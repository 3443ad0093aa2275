// RMSNorm (Zhang & Sennrich 2019) exactly as HF LlamaRMSNorm: normalise in fp32, cast back to
// the input dtype, then multiply by the weight.
#include <torch/torch.h>

#include "ptune/model/transformer.h"

namespace ptune {

RMSNormImpl::RMSNormImpl(int64_t dim, double eps_) : eps(eps_) {
  weight = register_parameter("weight", torch::ones({dim}));
}

torch::Tensor RMSNormImpl::forward(const torch::Tensor& x) {
  // x: (..., dim)
  auto xf = x.to(torch::kFloat);
  auto variance = xf.pow(2).mean(-1, /*keepdim=*/true);  // (..., 1)
  auto normed = (xf * torch::rsqrt(variance + eps)).to(x.scalar_type());
  // An fp32 master weight is cast to x's dtype, so the output keeps x's dtype (HF casts the
  // module as a whole; with mixed precision only the compute copy is in the low dtype).
  return (weight.scalar_type() == x.scalar_type() ? weight : weight.to(x.scalar_type())) * normed;
}

}  // namespace ptune
