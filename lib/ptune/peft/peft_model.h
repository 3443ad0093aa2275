// A base checkpoint with an exported adapter applied without merging (ptune eval/info
// --adapter): reads adapter_config.json, builds the model the way the adapter's method
// wires it, loads the base strictly and the adapter's tensors on top.
#pragma once

#include <memory>
#include <string>

#include "ptune/io/adapter_config.h"
#include "ptune/peft/method.h"

namespace ptune {

struct PeftModel {
  std::shared_ptr<Method> method;
  Transformer model{nullptr};
  AdapterFileConfig config;
};

// The method an adapter dir was written by, configured from its adapter_config.json and
// checked against the base's architecture (usage error naming the mismatching field).
std::shared_ptr<Method> method_for_adapter(const std::string& adapter_dir,
                                           const AdapterFileConfig& c, const ModelConfig& base);

// `base_dir` empty = the adapter's base_model_name_or_path.
PeftModel load_with_adapter(const std::string& base_dir, const std::string& adapter_dir);

}  // namespace ptune
