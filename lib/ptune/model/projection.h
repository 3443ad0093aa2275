// Projections y = x W^T (HF nn.Linear, bias=False). Attention and MLP receive theirs from
// the builder (builder.h), which decides whether a projection is a plain Linear or, e.g., a
// LoRALinear: model code never branches on the fine-tuning method.
#pragma once

#include <torch/nn/module.h>
#include <torch/types.h>

#include <memory>

#include "ptune/ops/mixed_precision.h"

namespace ptune {

class ProjectionImpl : public torch::nn::Module {
 public:
  virtual torch::Tensor forward(const torch::Tensor& x) = 0;  // (..., in) -> (..., out)
  virtual torch::Tensor base_weight() const = 0;              // (out, in)
};
using Projection = std::shared_ptr<ProjectionImpl>;

class LinearImpl : public ProjectionImpl {
 public:
  // `dtype`: storage of the weight (bf16 for a frozen LoRA base, method.lora.base_dtype).
  LinearImpl(int64_t in, int64_t out, torch::ScalarType dtype = torch::kFloat);
  torch::Tensor forward(const torch::Tensor& x) override { return mixed_linear(x, weight); }
  torch::Tensor base_weight() const override { return weight; }
  torch::Tensor weight;  // (out, in), HF name "weight"; init normal(0, 0.02) like HF LLaMA
};

}  // namespace ptune
