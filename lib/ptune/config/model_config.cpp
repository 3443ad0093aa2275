// ModelConfig consistency and size checks, shared by config.json loading (validate: first
// problem) and the recipe loader (config_problems: all of them, reported with YAML paths).
// Size limits and their reasons are config/size_limits.h.
#include "ptune/config/model_config.h"

#include "ptune/config/size_limits.h"
#include "ptune/core/error.h"

namespace ptune {

double layer_parameter_count(const ModelConfig& c) {
  const double d = c.hidden_size, I = c.intermediate_size, hd = c.resolved_head_dim();
  const double q = c.num_attention_heads * hd, kv = c.num_key_value_heads * hd;
  const double biases = (c.qkv_bias() ? q + 2 * kv : 0) + (c.o_bias() ? d : 0);
  return d * q + 2 * d * kv + q * d + biases  // q, k, v, o projections
         + 3 * d * I                          // gate, up, down
         + 2 * d;                             // the two RMSNorms
}

double parameter_count(const ModelConfig& c) {
  const double d = c.hidden_size, V = c.vocab_size;
  return V * d * (c.tie_word_embeddings ? 1 : 2) + d +
         c.num_hidden_layers * layer_parameter_count(c);
}

std::vector<ConfigProblem> config_problems(const ModelConfig& c, bool vocab_from_tokenizer) {
  std::vector<ConfigProblem> out;
  auto positive = [&](const char* name, int64_t v) {
    if (v <= 0) out.push_back({name, fmt::format("{} must be > 0, got {}", name, v), ""});
    return v > 0;
  };
  // Within `limit` (size_limits.h), for the reason `why`.
  auto at_most = [&](const char* name, int64_t v, int64_t limit, const std::string& why) {
    if (v > limit)
      out.push_back({name, fmt::format("{} must be <= {}, got {}", name, limit, v), why});
    return v <= limit;
  };
  bool vocab_ok =
      (vocab_from_tokenizer && c.vocab_size == 0) || positive("vocab_size", c.vocab_size);
  vocab_ok = at_most("vocab_size", c.vocab_size, kMaxVocab, kMaxVocabWhy) && vocab_ok;
  bool hidden_ok = positive("hidden_size", c.hidden_size) &&
                   at_most("hidden_size", c.hidden_size, kMaxGemmDim, kMaxGemmDimWhy);
  bool inter_ok = positive("intermediate_size", c.intermediate_size) &&
                  at_most("intermediate_size", c.intermediate_size, kMaxGemmDim, kMaxGemmDimWhy);
  bool layers_ok = positive("num_hidden_layers", c.num_hidden_layers);
  bool heads_ok = positive("num_attention_heads", c.num_attention_heads);
  bool kv_ok = positive("num_key_value_heads", c.num_key_value_heads);
  if (positive("max_position_embeddings", c.max_position_embeddings))
    at_most("max_position_embeddings", c.max_position_embeddings, kMaxPositions, kMaxPositionsWhy);
  if (heads_ok && kv_ok && c.num_attention_heads % c.num_key_value_heads != 0)
    out.push_back(
        {"num_key_value_heads",
         fmt::format("num_attention_heads ({}) must be a multiple of num_key_value_heads ({})",
                     c.num_attention_heads, c.num_key_value_heads),
         ""});
  if (c.model_type != "llama" && c.model_type != "qwen2")
    out.push_back(
        {"model_type",
         fmt::format("model_type must be \"llama\" or \"qwen2\", got \"{}\"", c.model_type), ""});
  else if (c.model_type == "qwen2" && c.attention_bias)
    out.push_back({"attention_bias",
                   "attention_bias is LlamaConfig's; qwen2 always has q/k/v biases and none on "
                   "o_proj (leave it false)",
                   ""});
  bool head_dim_ok = c.head_dim >= 0;
  if (!head_dim_ok)
    out.push_back({"head_dim", fmt::format("head_dim must be >= 0, got {}", c.head_dim), ""});
  if (c.head_dim <= 0 && hidden_ok && heads_ok && c.hidden_size % c.num_attention_heads != 0) {
    out.push_back({"hidden_size",
                   fmt::format("hidden_size ({}) must be a multiple of num_attention_heads ({})",
                               c.hidden_size, c.num_attention_heads),
                   ""});
    head_dim_ok = false;
  } else if ((c.head_dim > 0 || (hidden_ok && heads_ok)) && c.resolved_head_dim() % 2 != 0) {
    out.push_back({"head_dim",
                   fmt::format("head_dim must be even for RoPE, got {}", c.resolved_head_dim()),
                   ""});
  }
  // An explicit head_dim sets q_proj's output width, num_attention_heads * head_dim (a derived
  // one cannot exceed hidden_size); K/V widths are smaller, as kv heads divide the heads.
  if (c.head_dim > 0 && heads_ok)
    head_dim_ok =
        at_most("head_dim", c.head_dim, kMaxGemmDim / c.num_attention_heads,
                fmt::format("num_attention_heads ({}) * head_dim is q_proj's output width, "
                            "and {}",
                            c.num_attention_heads, kMaxGemmDimWhy)) &&
        head_dim_ok;
  // Parameters are counted in int64 (numel, sums of numel).
  if (vocab_ok && hidden_ok && inter_ok && layers_ok && heads_ok && kv_ok && head_dim_ok &&
      parameter_count(c) > static_cast<double>(kMaxCount)) {
    ModelConfig one = c;
    one.num_hidden_layers = 1;
    const double per_layer = layer_parameter_count(c), rest = parameter_count(one) - per_layer;
    const std::string why = "the parameter count must fit an int64";
    if (rest + per_layer <= static_cast<double>(kMaxCount))
      at_most("num_hidden_layers", c.num_hidden_layers,
              static_cast<int64_t>((static_cast<double>(kMaxCount) - rest) / per_layer), why);
    else
      out.push_back(
          {"hidden_size",
           fmt::format("a model of hidden_size {}, intermediate_size {} and "
                       "vocab_size {} has {:.3g} parameters even with one layer",
                       c.hidden_size, c.intermediate_size, c.vocab_size, rest + per_layer),
           why});
  }
  if (c.rope_theta <= 0)
    out.push_back({"rope_theta", fmt::format("rope_theta must be > 0, got {}", c.rope_theta), ""});
  if (c.rms_norm_eps <= 0)
    out.push_back(
        {"rms_norm_eps", fmt::format("rms_norm_eps must be > 0, got {}", c.rms_norm_eps), ""});
  return out;
}

void validate(const ModelConfig& c) {
  auto problems = config_problems(c);
  if (problems.empty()) return;
  const ConfigProblem& p = problems.front();
  usage_error("model config: {}{}", p.message, p.why.empty() ? "" : "; " + p.why);
}

}  // namespace ptune
