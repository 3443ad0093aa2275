// Temperature / top-k / top-p sampling (see sampling.h).
#include "ptune/generate/sampling.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <limits>

#include "ptune/core/error.h"

namespace ptune {

at::Generator make_generator(uint64_t seed) {
  return at::detail::createCPUGenerator(seed);
}

torch::Tensor sampling_probs(const torch::Tensor& logits, const SamplingOptions& o) {
  PTUNE_CHECK(o.temperature > 0, "sampling_probs needs temperature > 0, got {}", o.temperature);
  auto scaled = logits.to(torch::kFloat).div(o.temperature);  // (V)
  const int64_t V = scaled.size(0);
  if (o.top_k > 0 && o.top_k < V) {
    auto kth = std::get<0>(scaled.topk(o.top_k)).min();  // k-th largest logit
    scaled = scaled.masked_fill(scaled.lt(kth), -std::numeric_limits<float>::infinity());
  }
  auto probs = torch::softmax(scaled, -1);
  if (o.top_p < 1.0) {
    auto [sorted, idx] = probs.sort(/*dim=*/-1, /*descending=*/true);  // (V)
    // Keep token j if the mass before it is < p (the top token is always kept).
    auto before = sorted.cumsum(-1) - sorted;
    auto keep_sorted = before.lt(o.top_p).to(torch::kFloat);
    auto keep = torch::zeros_like(keep_sorted).scatter(0, idx, keep_sorted);
    probs = probs * keep;
    probs = probs / probs.sum();
  }
  return probs;
}

int64_t sample_token(const torch::Tensor& logits, const SamplingOptions& o, at::Generator& gen) {
  if (o.temperature <= 0) return logits.argmax(-1).item<int64_t>();
  auto probs = sampling_probs(logits, o);
  return torch::multinomial(probs, 1, /*replacement=*/false, gen).item<int64_t>();
}

}  // namespace ptune
