// adapter_config.json <-> AdapterFileConfig. Reads what PEFT itself writes (target_modules
// as a list or a string, layers_to_transform as an int or a list, nulls for unset fields)
// and writes the fields PEFT needs to load the adapter.
#include "ptune/io/adapter_config.h"

#include <filesystem>
#include <nlohmann/json.hpp>
#include <regex>

#include "ptune/core/error.h"
#include "ptune/io/fs.h"
#include "ptune/io/json_fields.h"

namespace ptune {
namespace {

using nlohmann::json;

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
  const json j = read_json_object(path);
  const JsonFields f(j, path);
  AdapterFileConfig c;
  c.peft_type = f.string("peft_type", "");
  if (c.peft_type.empty()) runtime_error("{}: missing field 'peft_type'", path);
  c.task_type = f.string("task_type", c.task_type);
  c.base_model_name_or_path = f.string("base_model_name_or_path", "");
  c.r = f.integer("r", c.r);
  c.lora_alpha = f.number("lora_alpha", c.lora_alpha);
  c.lora_dropout = f.number("lora_dropout", c.lora_dropout);
  if (f.has("target_modules") && j["target_modules"].is_string()) {
    c.target_regex = j["target_modules"].get<std::string>();
    if (c.target_regex != "all-linear") {
      try {
        std::regex check(c.target_regex);
      } catch (const std::regex_error& e) {
        runtime_error("{}: target_modules \"{}\" is not a valid regular expression ({})", path,
                      c.target_regex, e.what());
      }
    }
  } else {
    c.target_modules = f.strings("target_modules", {});
  }
  c.use_rslora = f.boolean("use_rslora", c.use_rslora);
  c.fan_in_fan_out = f.boolean("fan_in_fan_out", c.fan_in_fan_out);
  c.bias = f.string("bias", c.bias);
  c.use_dora = f.boolean("use_dora", c.use_dora);
  c.modules_to_save = f.strings("modules_to_save", {});
  if (f.has("layers_to_transform") && j["layers_to_transform"].is_number_integer())
    c.layers_to_transform = {j["layers_to_transform"].get<int64_t>()};
  else
    c.layers_to_transform = f.integers("layers_to_transform", {});
  for (const char* key : {"rank_pattern", "alpha_pattern", "layers_pattern", "exclude_modules",
                          "lora_bias", "target_parameters"})
    if (is_set(j, key) && c.unsupported.empty()) c.unsupported = key;
  c.num_virtual_tokens = f.integer("num_virtual_tokens", 0);
  c.token_dim = f.integer("token_dim", 0);
  c.num_layers = f.integer("num_layers", 0);
  c.num_attention_heads = f.integer("num_attention_heads", 0);
  c.encoder_hidden_size = f.integer("encoder_hidden_size", 0);
  c.prefix_projection = f.boolean("prefix_projection", false);
  c.bottleneck = f.integer("bottleneck", 0);
  c.placement = f.strings("placement", {});
  c.activation = f.string("activation", "");
  c.dropout = f.number("dropout", 0.0);
  c.hidden_size = f.integer("hidden_size", 0);
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
