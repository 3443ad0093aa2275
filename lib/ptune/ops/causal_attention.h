// Causal self-attention, softmax(q k^T * scale + mask) v, with O(T) memory in the style of
// FlashAttention-2 (Dao 2023; ../shared/reference/algorithms.md 4): tiles of queries against
// tiles of keys with an online softmax; only the output and the per-row log-sum-exp are kept
// for the backward, which recomputes the probabilities tile by tile. Key tiles that a query
// tile cannot see (above the diagonal, before its documents) are skipped; only the tiles that
// straddle a boundary are masked element by element.
#pragma once

#include <torch/types.h>

namespace ptune {

// Which keys each new query sees. Keys [0, n_past) (a prefix, a KV cache) are visible to
// every query. New key s (index n_past + s) is visible to new query t iff
// doc_start[b][t] <= s <= t: causal, and within t's document.
struct CausalMask {
  int64_t n_past = 0;
  torch::Tensor doc_start;  // (B, T) int64, nondecreasing along T; undefined = one document
};

// q: (B, H, T, D) any strides; k, v: (B, KV, n_past + T, D). GQA: H = KV * G, query head h
// uses K/V head h / G. Returns (B, T, H * D): the heads' outputs side by side, for o_proj.
// Precision: GEMM inputs in the inputs' dtype, scores, softmax and accumulators in fp32 (fp64
// for fp64 inputs), as FlashAttention-2 on a GPU; on a CPU with native bf16 GEMMs their
// results are rounded to bf16 once before they are accumulated in fp32.
torch::Tensor causal_attention(const torch::Tensor& q, const torch::Tensor& k,
                               const torch::Tensor& v, const CausalMask& mask = {});

// The documents of packed sequences from their RoPE positions (B, T): a document starts at
// t = 0 and wherever the position is 0. Returns doc_start (B, T) int64 for CausalMask.
torch::Tensor document_starts(const torch::Tensor& positions);

}  // namespace ptune
