// The plain projection (see projection.h).
#include "ptune/model/projection.h"

#include <torch/torch.h>

#include "ptune/model/weight_init.h"

namespace ptune {

LinearImpl::LinearImpl(int64_t in, int64_t out, torch::ScalarType dtype, bool with_bias) {
  weight = register_parameter("weight", torch::empty({out, in}, dtype));
  if (with_bias) bias = register_parameter("bias", torch::zeros({out}));
  if (weight_init_skipped()) return;
  torch::NoGradGuard no_grad;
  weight.normal_(0.0, 0.02);
}

torch::Tensor LinearImpl::forward(const torch::Tensor& x) {
  return add_bias(mixed_linear(x, weight), bias);
}

torch::Tensor add_bias(const torch::Tensor& y, const torch::Tensor& bias) {
  if (!bias.defined()) return y;
  return y + (bias.scalar_type() == y.scalar_type() ? bias : bias.to(y.scalar_type()));
}

}  // namespace ptune
