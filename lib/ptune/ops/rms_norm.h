// RMSNorm (Zhang & Sennrich 2019) as HF LlamaRMSNorm computes it, as a function: normalise in
// fp32, cast back to the input dtype, multiply by the weight cast to that dtype. On CPU, for
// fp32 and bf16 activations, a one-pass kernel with a hand-written backward replaces the ~5
// tensor-op passes forward and ~12 backward; it rounds where the tensor ops round, so values
// are the same but for the variance's summation order.
#pragma once

#include <torch/types.h>

namespace ptune {

// x (..., dim), weight (dim) -> (..., dim) in x's dtype. The fused kernel for fp32 and bf16
// on CPU, rms_norm_ops otherwise.
torch::Tensor rms_norm(const torch::Tensor& x, const torch::Tensor& weight, double eps);
// The tensor-op definition (the reference for the kernel).
torch::Tensor rms_norm_ops(const torch::Tensor& x, const torch::Tensor& weight, double eps);

}  // namespace ptune
