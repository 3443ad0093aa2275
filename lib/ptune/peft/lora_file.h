// PEFT LoRA adapter directories (adapter_config.json + adapter_model.safetensors), read the
// way PEFT's set_peft_model_state_dict reads them: keys base_model.model.<module>.lora_A
// .weight (r, in) and .lora_B.weight (out, r), with or without the ".default" adapter name;
// modules_to_save tensors as base_model.model.<name>.weight. Checked against a base model
// key by key, and merged into it (W + scale * B A) by `ptune merge-lora`.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "ptune/core/dtype.h"
#include "ptune/io/adapter_config.h"
#include "ptune/io/safetensors.h"

namespace ptune {

inline const std::string kPeftPrefix = "base_model.model.";

struct LoraAdapter {
  struct Pair {
    std::string key_A, key_B;  // file keys, for messages
    torch::Tensor A, B;        // (r, in), (out, r)
  };
  std::string dir;
  AdapterFileConfig config;
  std::map<std::string, Pair> modules;  // HF module path ("model.layers.0.self_attn.q_proj")
  std::map<std::string, std::pair<std::string, torch::Tensor>>
      saved;  // HF param -> (file key, tensor)
  double scale() const;
};

// Reads and normalises an adapter dir. Usage errors: not LORA, settings ptune cannot apply
// (DoRA, fan_in_fan_out, bias, rank_pattern...), keys that are not LoRA keys; Runtime
// errors: corrupt JSON or safetensors.
LoraAdapter read_lora_adapter(const std::string& dir);

// Checks every key and shape of `a` against the base's parameter shapes (HF name -> shape),
// and that every module target_modules selects has both A and B. Usage error naming the
// first mismatch; `base_desc` names the base in messages.
void check_lora_adapter(const LoraAdapter& a,
                        const std::map<std::string, std::vector<int64_t>>& base,
                        const std::string& base_desc);

struct MergeLoraOptions {
  std::string base;            // HF checkpoint dir
  std::string adapter;         // PEFT LoRA adapter dir
  std::string out;             // merged HF checkpoint dir (written atomically)
  std::optional<DType> dtype;  // none = each base tensor's own dtype
};

// Folds the adapter into the base and writes a plain checkpoint dir (config.json,
// model.safetensors, tokenizer.model from the base or, failing that, the adapter dir).
// Never writes into the inputs.
void merge_lora(const MergeLoraOptions& o);

}  // namespace ptune
