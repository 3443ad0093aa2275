// The core of causal self-attention, softmax(q k^T * scale + mask) v, computed in row chunks
// that skip the masked keys, with a hand-written backward (softmax and matmul gradients per
// chunk, key/value gradients accumulated in place). Autograd through per-chunk slices of
// q/k/v zero-filled a full-size gradient for every slice and summed them: on the benchmark's
// shape (b), 12 such 2 MB buffers per layer and step.
#pragma once

#include <torch/types.h>

namespace ptune {

// q: (B, H, T, D) any strides; k, v: (B, KV, K, D) with K = n_past + T keys, of which the
// first n_past (prefix, cache) are visible to every query; mask: the causal mask (T, K) or
// undefined when nothing is masked. GQA: H = KV * G, query head h uses K/V head h / G.
// Returns (B, T, H * D): the heads' outputs side by side, ready for o_proj.
torch::Tensor causal_attention(const torch::Tensor& q, const torch::Tensor& k,
                               const torch::Tensor& v, const torch::Tensor& mask, int64_t n_past);

}  // namespace ptune
