// Architecture of a LLaMA-family decoder, with HF LlamaConfig field names and meanings.
// io/hf_config reads and writes it as config.json; the recipe's model.arch fills it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ptune/core/choice.h"

namespace ptune {

// HF rope_scaling "type" / "rope_type". dynamic and yarn are recognised, not implemented.
enum class RopeType { kDefault, kLinear, kDynamic, kLlama3, kYarn };
inline constexpr Choice<RopeType> kRopeTypeNames[] = {{RopeType::kDefault, "default"},
                                                      {RopeType::kLinear, "linear"},
                                                      {RopeType::kDynamic, "dynamic"},
                                                      {RopeType::kLlama3, "llama3"},
                                                      {RopeType::kYarn, "yarn"}};
constexpr const auto& choices(RopeType) {
  return kRopeTypeNames;
}

// RoPE frequency scaling (HF rope_scaling / rope_parameters). type default = none.
struct RopeScaling {
  RopeType type = RopeType::kDefault;
  double factor = 1.0;                           // e.g. 8.0 (llama3), 4.0 (linear)
  double low_freq_factor = 1.0;                  // llama3 only
  double high_freq_factor = 4.0;                 // llama3 only
  int64_t original_max_position_embeddings = 0;  // llama3 / yarn, e.g. 8192
};

struct ModelConfig {
  int64_t vocab_size = 32000;              // e.g. 4096 for the quickstart model
  int64_t hidden_size = 4096;              // d_model, e.g. 256
  int64_t intermediate_size = 11008;       // SwiGLU inner size, e.g. 688
  int64_t num_hidden_layers = 32;          // e.g. 4
  int64_t num_attention_heads = 32;        // e.g. 8
  int64_t num_key_value_heads = 32;        // GQA groups, divides num_attention_heads, e.g. 4
  int64_t head_dim = 0;                    // 0 = hidden_size / num_attention_heads
  int64_t max_position_embeddings = 2048;  // e.g. 512
  double rope_theta = 10000.0;             // RoPE base
  RopeScaling rope_scaling;
  double rms_norm_eps = 1e-6;
  bool tie_word_embeddings = false;  // lm_head shares model.embed_tokens.weight
  // "llama" (LlamaForCausalLM) or "qwen2" (Qwen2ForCausalLM: LLaMA with q/k/v biases).
  std::string model_type = "llama";
  bool attention_bias = false;  // llama only: q/k/v and o_proj have biases (LlamaConfig)
  int64_t bos_token_id = 1;
  int64_t eos_token_id = 2;
  int64_t pad_token_id = -1;            // -1 = none
  std::string torch_dtype = "float32";  // dtype the weights are stored in

  bool qkv_bias() const { return model_type == "qwen2" || attention_bias; }  // q/k/v_proj
  bool o_bias() const { return model_type != "qwen2" && attention_bias; }    // o_proj
  int64_t resolved_head_dim() const {
    return head_dim > 0 ? head_dim : hidden_size / num_attention_heads;
  }
};

// One inconsistency: the field it is reported on, a message that may name it, and why the
// limit exists where one was exceeded, e.g. {"num_key_value_heads", "num_attention_heads (8)
// must be a multiple of num_key_value_heads (3)", ""} or {"vocab_size", "vocab_size must be
// <= 2147483647, got 4294967296", "token ids are int32"}.
struct ConfigProblem {
  std::string field;
  std::string message;
  std::string why;
};

// Every inconsistency in `c`, in field order, including sizes beyond config/size_limits.h.
// With `vocab_from_tokenizer`, vocab_size 0 is accepted (the recipe's model.arch takes it
// from the tokenizer later).
std::vector<ConfigProblem> config_problems(const ModelConfig& c, bool vocab_from_tokenizer = false);

// Parameters of one decoder layer and of the whole model (embeddings, layers, final norm, LM
// head unless tied), as HF counts them. In double, so that absurd sizes do not wrap around.
double layer_parameter_count(const ModelConfig& c);
double parameter_count(const ModelConfig& c);

// Throws a Usage error naming the first inconsistent field (heads dividing, sizes, etc.):
// "model config: <message>[; <why>]".
void validate(const ModelConfig& c);

}  // namespace ptune
