// HF LlamaConfig config.json <-> ModelConfig. Reads both the old top-level
// rope_theta/rope_scaling and the transformers-5 rope_parameters forms; writes the old form
// (read by every transformers version) plus model_type/architectures.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "ptune/config/model_config.h"

namespace ptune {

ModelConfig model_config_from_json(const nlohmann::json& j, const std::string& where);
nlohmann::json model_config_to_json(const ModelConfig& c);

ModelConfig read_hf_config(const std::string& path);  // errors name the file and field
void write_hf_config(const std::string& path, const ModelConfig& c);  // atomic

}  // namespace ptune
