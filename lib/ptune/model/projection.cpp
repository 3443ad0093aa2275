// The plain projection (see projection.h).
#include "ptune/model/projection.h"

#include <torch/torch.h>

#include "ptune/model/weight_init.h"

namespace ptune {

LinearImpl::LinearImpl(int64_t in, int64_t out, torch::ScalarType dtype) {
  weight = register_parameter("weight", torch::empty({out, in}, dtype));
  if (weight_init_skipped()) return;
  torch::NoGradGuard no_grad;
  weight.normal_(0.0, 0.02);
}

}  // namespace ptune
