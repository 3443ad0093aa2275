// Which modules get LoRA, by PEFT's rule (tuners_utils check_target_module_exists): a module
// whose path is a target or ends in ".<target>" (any projection but lm_head for
// "all-linear"), or whose whole path matches the regex; then only the listed layers, when any
// are. The recipe's method.lora.{targets, layers} and an adapter_config.json's
// {target_modules, layers_to_transform} both go through it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ptune {

struct LoraTargets {
  std::vector<std::string> names;  // "q_proj", ..., or "all-linear"
  std::string regex;               // a full-match regex over the module path, or ""
  std::vector<int64_t> layers;     // empty = every layer

  bool matches(const std::string& path) const;  // path: "model.layers.3.self_attn.q_proj"
};

// "q_proj" of "model.layers.3.self_attn.q_proj".
std::string module_name(const std::string& path);
// The N of "model.layers.N.", or -1.
int64_t layer_index(const std::string& path);

}  // namespace ptune
