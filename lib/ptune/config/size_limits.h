// The largest sizes ptune can index, each bounded by the type that carries it, so that a
// recipe, a config.json or a flag beyond them is an error that names the limit instead of a
// wrong result or std::bad_alloc. Whether a size that fits these fits the machine's memory
// is a separate check (train/memory_estimate.h).
#pragma once

#include <cstdint>
#include <limits>

namespace ptune {

// Token ids are int32 (Tokenizer::encode, Example), so a vocabulary has at most 2^31 - 1 ids.
constexpr int64_t kMaxVocab = std::numeric_limits<int32_t>::max();
constexpr const char* kMaxVocabWhy = "token ids are int32";

// RoPE angles are computed from positions held in fp32 (rope_tables: arange in float), which
// are exact integers only up to 2^24: beyond it neighbouring positions get the same rotation.
// Bounds max_position_embeddings, data.seq_len, and prefix virtual tokens + seq_len.
constexpr int64_t kMaxPositions = int64_t{1} << 24;
constexpr const char* kMaxPositionsWhy =
    "RoPE positions are fp32, whose integers are exact only up to 2^24";

// One GEMM dimension: BLAS takes m, n, k as 32-bit int (cuBLAS; OpenBLAS's LP64 interface),
// and LibTorch refuses larger on CUDA and drops to a scalar loop on CPU. Bounds every layer
// width (hidden, intermediate, heads * head_dim, vocab as lm_head's output, LoRA r, adapter
// bottleneck, prefix projection) and the batch_size * seq_len rows of one micro-batch.
constexpr int64_t kMaxGemmDim = std::numeric_limits<int32_t>::max();
constexpr const char* kMaxGemmDimWhy = "it is a GEMM dimension, which BLAS takes as a 32-bit int";

// One line of a JSONL data file: a record this long would be tens of millions of tokens, so a
// longer line is a file that is not JSONL, refused before it is read into memory whole.
constexpr int64_t kMaxJsonlLineBytes = int64_t{256} << 20;
constexpr const char* kMaxJsonlLineBytesWhy =
    "no record is that long; is this a JSONL file (one JSON object per line)?";

// Element and token counts are int64 (numel, TrainState::tokens_seen).
constexpr int64_t kMaxCount = std::numeric_limits<int64_t>::max();

// Messages name the reason after the limit: "vocab_size must be <= 2147483647, got ...;
// token ids are int32".

// a * b, or kMaxCount when it would overflow int64 (a, b >= 0): products of sizes compare
// against the limits above without wrapping around.
constexpr int64_t saturating_mul(int64_t a, int64_t b) {
  return a != 0 && b > kMaxCount / a ? kMaxCount : a * b;
}

}  // namespace ptune
