// SwiGLU feed-forward of LLaMA (Shazeer 2020, "GLU Variants"): down(silu(gate(x)) * up(x)).
#pragma once

#include <torch/nn/module.h>
#include <torch/types.h>

#include <string>

#include "ptune/config/model_config.h"
#include "ptune/model/builder.h"

namespace ptune {

class MLPImpl : public torch::nn::Module {
 public:
  MLPImpl(const ModelConfig& c, const std::string& path, const ModelBuilder& b);
  torch::Tensor forward(const torch::Tensor& x);  // (B, T, d) -> (B, T, d)
  Projection gate_proj, up_proj, down_proj;       // d -> f, d -> f, f -> d
};
TORCH_MODULE(MLP);

}  // namespace ptune
