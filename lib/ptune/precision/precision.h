// The mixed-precision policy (Micikevicius et al. 2018; PyTorch AMP): fp32 master weights and
// optimizer state always; forward and backward compute in precision.dtype (fp32 | bf16 | fp16);
// norms, softmax and the loss in fp32. fp16 adds a dynamic loss scaler; bf16 needs none.
#pragma once

#include <torch/types.h>

#include <memory>
#include <string>

#include "ptune/config/recipe.h"
#include "ptune/io/safetensors.h"
#include "ptune/model/transformer.h"
#include "ptune/precision/loss_scaler.h"

namespace ptune {

struct PrecisionPolicy {
  DType dtype = DType::kFp32;
  torch::ScalarType compute = torch::kFloat;  // dtype of activations and of the GEMM inputs
  bool loss_scaling = false;                  // fp16 only
};

PrecisionPolicy make_precision_policy(const PrecisionConfig& p);

// Sets the model's compute dtype (TransformerImpl::set_compute_dtype) and checks that the
// trainable parameters are fp32 masters (the optimizer and the scaler need fp32 grads).
void apply_precision(const PrecisionPolicy& policy, Transformer& model,
                     const NamedTensors& trainable);

// A LossScaler for fp16, nullptr for fp32 and bf16.
std::unique_ptr<LossScaler> make_loss_scaler(const PrecisionConfig& p);

}  // namespace ptune
