// adapter_config.json <-> AdapterFileConfig. Reads what PEFT itself writes (target_modules
// as a list or a string, layers_to_transform as an int or a list, nulls for unset fields)
// and writes the fields PEFT needs to load the adapter.
#include "ptune/io/adapter_config.h"

#include <filesystem>
#include <nlohmann/json.hpp>

#include "ptune/core/error.h"
#include "ptune/io/fs.h"

namespace ptune {
namespace {

using nlohmann::json;

template <class T>
void get(const json& j, const char* key, T& out, const std::string& where) {
  if (!j.contains(key) || j[key].is_null()) return;
  try {
    out = j[key].get<T>();
  } catch (const json::exception&) {
    runtime_error("{}: field '{}' has the wrong type: {}", where, key, j[key].dump());
  }
}

bool is_set(const json& j, const char* key) {
  if (!j.contains(key)) return false;
  const json& v = j[key];
  return !(v.is_null() || (v.is_boolean() && !v.get<bool>()) || (v.is_object() && v.empty()) ||
           (v.is_array() && v.empty()));
}

}  // namespace

AdapterFileConfig read_adapter_config(const std::string& dir) {
  const std::string path = dir + "/" + kAdapterConfigFile;
  if (!std::filesystem::exists(path))
    usage_error("{}: not an adapter directory (no {})", dir, kAdapterConfigFile);
  json j;
  try {
    j = json::parse(read_file(path));
  } catch (const json::exception& e) {
    runtime_error("{}: not valid JSON ({})", path, e.what());
  }
  if (!j.is_object()) runtime_error("{}: expected a JSON object", path);
  AdapterFileConfig c;
  get(j, "peft_type", c.peft_type, path);
  if (c.peft_type.empty()) runtime_error("{}: missing field 'peft_type'", path);
  get(j, "task_type", c.task_type, path);
  get(j, "base_model_name_or_path", c.base_model_name_or_path, path);
  get(j, "r", c.r, path);
  get(j, "lora_alpha", c.lora_alpha, path);
  get(j, "lora_dropout", c.lora_dropout, path);
  if (j.contains("target_modules") && j["target_modules"].is_string())
    c.target_regex = j["target_modules"].get<std::string>();
  else
    get(j, "target_modules", c.target_modules, path);
  get(j, "use_rslora", c.use_rslora, path);
  get(j, "fan_in_fan_out", c.fan_in_fan_out, path);
  get(j, "bias", c.bias, path);
  get(j, "use_dora", c.use_dora, path);
  get(j, "modules_to_save", c.modules_to_save, path);
  if (j.contains("layers_to_transform") && j["layers_to_transform"].is_number_integer())
    c.layers_to_transform = {j["layers_to_transform"].get<int64_t>()};
  else
    get(j, "layers_to_transform", c.layers_to_transform, path);
  for (const char* key : {"rank_pattern", "alpha_pattern", "layers_pattern", "exclude_modules",
                          "lora_bias", "target_parameters"})
    if (is_set(j, key) && c.unsupported.empty()) c.unsupported = key;
  get(j, "num_virtual_tokens", c.num_virtual_tokens, path);
  get(j, "token_dim", c.token_dim, path);
  get(j, "num_layers", c.num_layers, path);
  get(j, "num_attention_heads", c.num_attention_heads, path);
  get(j, "encoder_hidden_size", c.encoder_hidden_size, path);
  get(j, "prefix_projection", c.prefix_projection, path);
  get(j, "bottleneck", c.bottleneck, path);
  get(j, "placement", c.placement, path);
  get(j, "activation", c.activation, path);
  get(j, "dropout", c.dropout, path);
  get(j, "hidden_size", c.hidden_size, path);
  return c;
}

void write_adapter_config(const std::string& dir, const AdapterFileConfig& c) {
  json j = {{"peft_type", c.peft_type},
            {"task_type", c.task_type},
            {"base_model_name_or_path", c.base_model_name_or_path},
            {"inference_mode", true},
            {"revision", nullptr}};
  if (c.peft_type == "LORA") {
    j["r"] = c.r;
    j["lora_alpha"] = c.lora_alpha;
    j["lora_dropout"] = c.lora_dropout;
    j["target_modules"] = c.target_regex.empty() ? json(c.target_modules) : json(c.target_regex);
    j["use_rslora"] = c.use_rslora;
    j["bias"] = c.bias;
    j["fan_in_fan_out"] = false;
    j["use_dora"] = false;
    j["init_lora_weights"] = true;
    j["modules_to_save"] = c.modules_to_save.empty() ? json(nullptr) : json(c.modules_to_save);
    j["layers_to_transform"] =
        c.layers_to_transform.empty() ? json(nullptr) : json(c.layers_to_transform);
  } else if (c.peft_type == "PREFIX_TUNING") {
    j["num_virtual_tokens"] = c.num_virtual_tokens;
    j["token_dim"] = c.token_dim;
    j["num_transformer_submodules"] = 1;
    j["num_attention_heads"] = c.num_attention_heads;
    j["num_layers"] = c.num_layers;
    j["encoder_hidden_size"] = c.encoder_hidden_size;
    j["prefix_projection"] = c.prefix_projection;
  } else {
    j["bottleneck"] = c.bottleneck;
    j["placement"] = c.placement;
    j["activation"] = c.activation;
    j["dropout"] = c.dropout;
    j["hidden_size"] = c.hidden_size;
  }
  write_file_atomic(dir + "/" + kAdapterConfigFile, j.dump(2) + "\n");
}

}  // namespace ptune
