// Projections y = x W^T (+ b) (HF nn.Linear). Attention and MLP receive theirs from
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
  // `dtype`: storage of the weight (bf16 for a frozen LoRA base, method.lora.base_dtype); a
  // bias is kept in fp32.
  LinearImpl(int64_t in, int64_t out, torch::ScalarType dtype = torch::kFloat, bool bias = false);
  torch::Tensor forward(const torch::Tensor& x) override;
  torch::Tensor base_weight() const override { return weight; }
  torch::Tensor weight;  // (out, in), HF name "weight"; init normal(0, 0.02) like HF LLaMA
  torch::Tensor bias;    // (out), HF name "bias", zero init; undefined without one
};

// y + bias in y's dtype (no-op for an undefined bias): the biased projections' last step.
torch::Tensor add_bias(const torch::Tensor& y, const torch::Tensor& bias);

}  // namespace ptune
