// RMSNorm and RoPE as one-pass CPU kernels (fp32 and bf16) with hand-written backward.
// The tensor-op versions (rms_norm_ops, rope_ops) are the HF definitions and stay the path
// for CUDA, fp16 emulation and other layouts; the fused ones give the same forward values
// (bf16: the same roundings, in the same order) and compute the backward in fp32.
#pragma once

#include <torch/types.h>

namespace ptune {

// HF LlamaRMSNorm: normalise x (..., dim) in fp32, cast to x's dtype, times weight cast to
// x's dtype. Fused on CPU for fp32/bf16 x and fp32/bf16 weight.
torch::Tensor rms_norm(const torch::Tensor& x, const torch::Tensor& weight, double eps);
torch::Tensor rms_norm_ops(const torch::Tensor& x, const torch::Tensor& weight, double eps);

// x (B, H, T, D) * cos + rotate_half(x) * sin, cos/sin (T, D) in x's dtype. Fused on CPU
// for fp32/bf16 when the last dimension is contiguous; the result keeps x's memory layout.
torch::Tensor apply_rope(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin);
torch::Tensor rope_ops(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin);

}  // namespace ptune
