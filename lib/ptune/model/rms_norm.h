// The RMSNorm module of HF LlamaRMSNorm (parameter "weight", ones at init); the computation is
// ops/rms_norm.h: in fp32, returned in the input's dtype.
#pragma once

#include <torch/nn/module.h>
#include <torch/types.h>

namespace ptune {

class RMSNormImpl : public torch::nn::Module {
 public:
  RMSNormImpl(int64_t dim, double eps);
  torch::Tensor forward(const torch::Tensor& x);  // (..., dim) -> (..., dim) in x's dtype
  torch::Tensor weight;                           // (dim)
  double eps;                                     // 1e-5
};
TORCH_MODULE(RMSNorm);

}  // namespace ptune
