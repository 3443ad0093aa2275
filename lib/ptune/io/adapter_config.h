// adapter_config.json of an adapter directory (PEFT's save_pretrained layout), as a plain
// struct: LoRA (peft_type LORA), prefix tuning (PREFIX_TUNING) and ptune's bottleneck
// adapters (PTUNE_BOTTLENECK, documented in docs/peft.md). Fields keep PEFT's names.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ptune {

inline constexpr const char* kAdapterConfigFile = "adapter_config.json";
inline constexpr const char* kAdapterWeightsFile = "adapter_model.safetensors";

struct AdapterFileConfig {
  std::string peft_type;  // LORA | PREFIX_TUNING | PTUNE_BOTTLENECK
  std::string task_type = "CAUSAL_LM";
  std::string base_model_name_or_path;
  // LORA
  int64_t r = 8;
  double lora_alpha = 8.0;
  double lora_dropout = 0.0;
  std::vector<std::string> target_modules;  // names ("q_proj") matched as path suffixes
  std::string target_regex;                 // target_modules given as a string (regex or
                                            // "all-linear"); then target_modules is empty
  bool use_rslora = false;
  bool fan_in_fan_out = false;
  std::string bias = "none";
  bool use_dora = false;
  std::vector<std::string> modules_to_save;
  std::vector<int64_t> layers_to_transform;  // empty = all layers
  std::string unsupported;  // first set field ptune cannot apply, e.g. "rank_pattern"
  // PREFIX_TUNING
  int64_t num_virtual_tokens = 0;
  int64_t token_dim = 0;  // num_key_value_heads * head_dim
  int64_t num_layers = 0;
  int64_t num_attention_heads = 0;  // the K/V heads for GQA models, as PEFT stores it
  int64_t encoder_hidden_size = 0;
  bool prefix_projection = false;
  // PTUNE_BOTTLENECK
  int64_t bottleneck = 0;
  std::vector<std::string> placement;  // attn | mlp
  std::string activation;
  double dropout = 0.0;
  int64_t hidden_size = 0;
};

// Reads DIR/adapter_config.json. Usage error when it is missing (not an adapter dir);
// Runtime error naming the file for malformed JSON or fields of the wrong type.
AdapterFileConfig read_adapter_config(const std::string& dir);

// Writes DIR/adapter_config.json (atomically) with the fields of c.peft_type.
void write_adapter_config(const std::string& dir, const AdapterFileConfig& c);

}  // namespace ptune
