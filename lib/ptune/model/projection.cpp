// Projections y = x W^T (HF nn.Linear without bias) and ptune's precision rule for them:
// fp32/bf16 (and fp16 on CUDA) use the native GEMM; fp16 on CPU has no Half GEMM in
// LibTorch 1.13, so it multiplies the fp16 values in fp32 and rounds the result to fp16.
#include "ptune/model/projection.h"

#include <torch/torch.h>

namespace ptune {

torch::Tensor linear(const torch::Tensor& x, const torch::Tensor& w) {
  // x: (..., in), w: (out, in) -> (..., out)
  // Mixed precision: w is cast to x's dtype when they differ (fp32 master weights under a
  // bf16/fp16 compute dtype; or a frozen bf16 base weight under fp32 activations). The cast
  // is differentiable, so autograd hands w's own dtype (the fp32 master) its gradient.
  const torch::Tensor wc = w.scalar_type() == x.scalar_type() ? w : w.to(x.scalar_type());
  // CPU fp16 emulation: both operands are fp16 values; fp32 GEMM, result rounded to fp16.
  // Backward runs through the same casts, so gradients are rounded to fp16 too.
  if (is_cpu_half(x))
    return torch::matmul(x.to(torch::kFloat), wc.to(torch::kFloat).t()).to(torch::kHalf);
  return torch::matmul(x, wc.t());
}

torch::Tensor silu(const torch::Tensor& x) {
  const bool cpu_low = !x.is_cuda() && (x.scalar_type() == torch::kHalf || x.scalar_type() == torch::kBFloat16);
  return cpu_low ? torch::silu(x.to(torch::kFloat)).to(x.scalar_type()) : torch::silu(x);
}

torch::Tensor dropout(const torch::Tensor& x, double p) {
  return is_cpu_half(x) ? torch::dropout(x.to(torch::kFloat), p, /*train=*/true).to(x.scalar_type())
                        : torch::dropout(x, p, /*train=*/true);
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
