// SwiGLU feed-forward (see mlp.h).
#include "ptune/model/mlp.h"

#include <torch/torch.h>

namespace ptune {

MLPImpl::MLPImpl(const ModelConfig& c, const std::string& path, const ModelBuilder& b) {
  const int64_t d = c.hidden_size, f = c.intermediate_size;
  gate_proj = register_module("gate_proj", make_projection(b, path + ".gate_proj", d, f));
  up_proj = register_module("up_proj", make_projection(b, path + ".up_proj", d, f));
  down_proj = register_module("down_proj", make_projection(b, path + ".down_proj", f, d));
}

torch::Tensor MLPImpl::forward(const torch::Tensor& x) {
  // x: (B, T, d) -> (B, T, f) -> (B, T, d)
  auto gate = gate_proj->forward(x);
  gate = mixed_silu(gate);
  return down_proj->forward(gate * up_proj->forward(x));
}

}  // namespace ptune
