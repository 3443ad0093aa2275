// Rotary position embedding (see rope.h).
#include "ptune/model/rope.h"

#include <torch/torch.h>

#include <cmath>

#include "ptune/core/error.h"

namespace ptune {

namespace {

// inv_freq (D/2) fp32 for the config's base and rope_scaling.
torch::Tensor inv_frequencies(const ModelConfig& c) {
  const int64_t D = c.resolved_head_dim();
  auto exponent = torch::arange(0, D, 2, torch::kLong).to(torch::kFloat) / static_cast<double>(D);
  torch::Tensor inv = 1.0 / torch::pow(c.rope_theta, exponent);  // (D/2)
  const RopeScaling& s = c.rope_scaling;
  if (s.type == RopeType::kDefault) return inv;
  if (s.factor <= 0) usage_error("model config: rope_scaling.factor must be > 0, got {}", s.factor);
  if (s.type == RopeType::kLinear) return inv / s.factor;
  if (s.type == RopeType::kLlama3) {
    // HF _compute_llama3_parameters: keep high frequencies, divide low ones by `factor`,
    // interpolate smoothly in between (wavelengths measured against the original context).
    if (s.original_max_position_embeddings <= 0)
      usage_error(
          "model config: rope_scaling.original_max_position_embeddings must be > 0 for "
          "llama3, got {}",
          s.original_max_position_embeddings);
    if (s.high_freq_factor == s.low_freq_factor)
      usage_error(
          "model config: rope_scaling high_freq_factor and low_freq_factor must differ, "
          "both are {}",
          s.low_freq_factor);
    const double L = static_cast<double>(s.original_max_position_embeddings);
    const double low_wavelen = L / s.low_freq_factor, high_wavelen = L / s.high_freq_factor;
    auto wavelen = 2 * M_PI / inv;
    auto scaled = torch::where(wavelen > low_wavelen, inv / s.factor, inv);
    auto smooth = (L / wavelen - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
    auto smoothed = (1 - smooth) * scaled / s.factor + smooth * scaled;
    auto medium = (wavelen >= high_wavelen).logical_and(wavelen <= low_wavelen);
    return torch::where(medium, smoothed, scaled);
  }
  usage_error(
      "model config: rope_scaling type '{}' is not supported yet; supported: default, "
      "linear, llama3",
      name_of(s.type));
}

}  // namespace

std::pair<torch::Tensor, torch::Tensor> rope_tables(const ModelConfig& c, int64_t max_len) {
  auto inv = inv_frequencies(c);                                         // (D/2)
  auto t = torch::arange(max_len, torch::TensorOptions(torch::kFloat));  // (max_len)
  auto freqs = torch::outer(t, inv);                                     // (max_len, D/2)
  auto emb = torch::cat({freqs, freqs}, -1);                             // (max_len, D)
  return {emb.cos(), emb.sin()};
}

torch::Tensor apply_rope(const torch::Tensor& x, const torch::Tensor& cos,
                         const torch::Tensor& sin) {
  // x: (B, H, T, D); rotate_half(x) = cat(-x[..., D/2:], x[..., :D/2])
  const int64_t half = x.size(-1) / 2;
  auto rotated = torch::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
  return x * cos + rotated * sin;
}

}  // namespace ptune
