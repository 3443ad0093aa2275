// Next-token sampling from logits: greedy at temperature 0, otherwise softmax(logits / T)
// restricted by top-k and then top-p (nucleus, Holtzman et al. 2020: the smallest set of
// most likely tokens whose probability reaches p). Randomness comes from the caller's
// seeded torch::Generator, never the global RNG.
#pragma once

#include <ATen/core/Generator.h>
#include <torch/types.h>

#include <cstdint>

namespace ptune {

struct SamplingOptions {
  double temperature = 0.0;  // 0 = greedy (argmax)
  int64_t top_k = 0;         // 0 = off; e.g. 50
  double top_p = 1.0;        // 1 = off; e.g. 0.9
  uint64_t seed = 0;
};

// A CPU generator seeded with `seed`.
at::Generator make_generator(uint64_t seed);

// logits: (V) fp32. Probabilities after temperature, top-k and top-p (zero outside the kept
// set, renormalised), (V) fp32. Requires temperature > 0.
torch::Tensor sampling_probs(const torch::Tensor& logits, const SamplingOptions& o);

// Picks a token id from logits (V).
int64_t sample_token(const torch::Tensor& logits, const SamplingOptions& o, at::Generator& gen);

}  // namespace ptune
