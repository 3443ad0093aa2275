// Rotary position embedding (RoFormer, arXiv 2104.09864) in the HF layout: dimension i pairs
// with i + D/2 (rotate_half), tables cat(freqs, freqs). Angles in fp32 as HF
// modeling_rope_utils.py computes them; rope_scaling: default, linear, llama3.
#pragma once

#include <torch/types.h>

#include <utility>

#include "ptune/config/model_config.h"

namespace ptune {

// cos/sin tables for positions [0, max_len), fp32, (max_len, head_dim).
std::pair<torch::Tensor, torch::Tensor> rope_tables(const ModelConfig& c, int64_t max_len);
// x: (B, H, T, D); cos/sin: (T, D), or (B, 1, T, D) for per-row positions. Returns
// x*cos + rotate_half(x)*sin.
torch::Tensor apply_rope(const torch::Tensor& x, const torch::Tensor& cos,
                         const torch::Tensor& sin);

}  // namespace ptune
