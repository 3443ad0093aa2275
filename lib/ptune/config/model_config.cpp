// ModelConfig consistency checks.
#include "ptune/config/model_config.h"

#include "ptune/core/error.h"

namespace ptune {

void validate(const ModelConfig& c) {
  auto positive = [](const char* name, int64_t v) {
    if (v <= 0) usage_error("model config: {} must be > 0, got {}", name, v);
  };
  positive("vocab_size", c.vocab_size);
  positive("hidden_size", c.hidden_size);
  positive("intermediate_size", c.intermediate_size);
  positive("num_hidden_layers", c.num_hidden_layers);
  positive("num_attention_heads", c.num_attention_heads);
  positive("num_key_value_heads", c.num_key_value_heads);
  positive("max_position_embeddings", c.max_position_embeddings);
  if (c.num_attention_heads % c.num_key_value_heads != 0)
    usage_error("model config: num_attention_heads ({}) must be a multiple of num_key_value_heads ({})",
                c.num_attention_heads, c.num_key_value_heads);
  if (c.head_dim <= 0 && c.hidden_size % c.num_attention_heads != 0)
    usage_error("model config: hidden_size ({}) must be a multiple of num_attention_heads ({})",
                c.hidden_size, c.num_attention_heads);
  if (c.resolved_head_dim() % 2 != 0)
    usage_error("model config: head_dim must be even for RoPE, got {}", c.resolved_head_dim());
  if (c.rope_theta <= 0) usage_error("model config: rope_theta must be > 0, got {}", c.rope_theta);
  if (c.rms_norm_eps <= 0) usage_error("model config: rms_norm_eps must be > 0, got {}", c.rms_norm_eps);
}

}  // namespace ptune
