// What `ptune info` reports about a checkpoint dir (and an adapter on it), read from the
// headers only: architecture, parameter counts and stored dtypes. No tensor is loaded.
#pragma once

#include <cstdint>
#include <string>

#include "ptune/config/model_config.h"

namespace ptune {

struct CheckpointInfo {
  std::string model_dir;  // the base actually read
  std::string adapter;    // "" without one
  std::string peft_type;  // the adapter's, e.g. "LORA"
  ModelConfig config;
  int64_t parameters = 0;  // base + adapter, a modules_to_save copy counted once
  int64_t trainable = 0;   // the adapter's parameters, or all without an adapter
  int64_t tensors = 0;     // in the base checkpoint
  std::string dtypes;      // stored dtypes of the base, "BF16,F32"
};

// `model_dir` empty = the adapter's base_model_name_or_path. Usage errors name what is missing.
CheckpointInfo inspect_checkpoint(const std::string& model_dir, const std::string& adapter);

}  // namespace ptune
