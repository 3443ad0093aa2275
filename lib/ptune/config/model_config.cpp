// ModelConfig consistency checks, shared by config.json loading (validate: first problem)
// and the recipe loader (config_problems: all of them, reported with YAML paths).
#include "ptune/config/model_config.h"

#include "ptune/core/error.h"

namespace ptune {

std::vector<ConfigProblem> config_problems(const ModelConfig& c, bool vocab_from_tokenizer) {
  std::vector<ConfigProblem> out;
  auto positive = [&](const char* name, int64_t v) {
    if (v <= 0) out.push_back({name, fmt::format("{} must be > 0, got {}", name, v)});
    return v > 0;
  };
  if (!(vocab_from_tokenizer && c.vocab_size == 0)) positive("vocab_size", c.vocab_size);
  bool hidden_ok = positive("hidden_size", c.hidden_size);
  positive("intermediate_size", c.intermediate_size);
  positive("num_hidden_layers", c.num_hidden_layers);
  bool heads_ok = positive("num_attention_heads", c.num_attention_heads);
  bool kv_ok = positive("num_key_value_heads", c.num_key_value_heads);
  positive("max_position_embeddings", c.max_position_embeddings);
  if (heads_ok && kv_ok && c.num_attention_heads % c.num_key_value_heads != 0)
    out.push_back({"num_key_value_heads",
                   fmt::format("num_attention_heads ({}) must be a multiple of num_key_value_heads ({})",
                               c.num_attention_heads, c.num_key_value_heads)});
  if (c.head_dim < 0) out.push_back({"head_dim", fmt::format("head_dim must be >= 0, got {}", c.head_dim)});
  if (c.head_dim <= 0 && hidden_ok && heads_ok && c.hidden_size % c.num_attention_heads != 0)
    out.push_back({"hidden_size", fmt::format("hidden_size ({}) must be a multiple of num_attention_heads ({})",
                                              c.hidden_size, c.num_attention_heads)});
  else if ((c.head_dim > 0 || (hidden_ok && heads_ok)) && c.resolved_head_dim() % 2 != 0)
    out.push_back({"head_dim", fmt::format("head_dim must be even for RoPE, got {}", c.resolved_head_dim())});
  if (c.rope_theta <= 0)
    out.push_back({"rope_theta", fmt::format("rope_theta must be > 0, got {}", c.rope_theta)});
  if (c.rms_norm_eps <= 0)
    out.push_back({"rms_norm_eps", fmt::format("rms_norm_eps must be > 0, got {}", c.rms_norm_eps)});
  return out;
}

void validate(const ModelConfig& c) {
  auto problems = config_problems(c);
  if (!problems.empty()) usage_error("model config: {}", problems.front().message);
}

}  // namespace ptune
