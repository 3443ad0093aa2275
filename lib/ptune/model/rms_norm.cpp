// RMSNorm module (see rms_norm.h).
#include "ptune/model/rms_norm.h"

#include <torch/torch.h>

#include "ptune/ops/rms_norm.h"

namespace ptune {

RMSNormImpl::RMSNormImpl(int64_t dim, double eps_) : eps(eps_) {
  weight = register_parameter("weight", torch::ones({dim}));
}

torch::Tensor RMSNormImpl::forward(const torch::Tensor& x) {
  return rms_norm(x, weight, eps);
}

}  // namespace ptune
