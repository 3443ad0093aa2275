// Projections y = x W^T (HF nn.Linear without bias) and ptune's precision rule for them:
// fp32/bf16 (and fp16 on CUDA) use the native GEMM; fp16 on CPU has no Half GEMM in
// LibTorch 1.13, so it multiplies the fp16 values in fp32 and rounds the result to fp16.
#include "ptune/model/projection.h"

#include <torch/torch.h>

namespace ptune {

torch::Tensor linear(const torch::Tensor& x, const torch::Tensor& w) {
  // x: (..., in), w: (out, in) -> (..., out)
  // A weight stored in another dtype (frozen bf16 base under LoRA) computes in x's dtype.
  if (w.scalar_type() != x.scalar_type()) return ::ptune::linear(x, w.to(x.scalar_type()));
  if (is_cpu_half(x))
    return torch::matmul(x.to(torch::kFloat), w.to(torch::kFloat).t()).to(torch::kHalf);
  return torch::matmul(x, w.t());
}

LinearImpl::LinearImpl(int64_t in, int64_t out) {
  weight = register_parameter("weight", torch::empty({out, in}));
  torch::NoGradGuard no_grad;
  weight.normal_(0.0, 0.02);
}

Projection make_projection(const ModelBuilder& b, const std::string& path, int64_t in, int64_t out) {
  Projection p = b.projection ? b.projection(path, in, out) : nullptr;
  return p ? p : std::make_shared<LinearImpl>(in, out);
}

}  // namespace ptune
