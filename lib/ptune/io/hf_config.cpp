// HF LlamaConfig config.json <-> ModelConfig. Defaults follow transformers'
// configuration_llama.py; RoPE scaling is read from either rope_scaling (+ top-level
// rope_theta, transformers <= 4) or rope_parameters (transformers 5).
#include "ptune/io/hf_config.h"

#include <algorithm>
#include <vector>

#include "ptune/core/error.h"
#include "ptune/io/fs.h"
#include "ptune/io/json_fields.h"

namespace ptune {
namespace {

using nlohmann::json;

// rope_scaling / rope_parameters object -> RopeScaling (+ rope_theta when inside it).
RopeScaling read_rope(const json& r, const std::string& where, const std::string& name,
                      double* rope_theta) {
  if (!r.is_object())
    runtime_error("{}: {} must be an object or null, got {}", where, name, r.dump());
  JsonFields f(r, where, name + ".");
  RopeScaling s;
  const std::string type = f.string("rope_type", f.string("type", "default"));
  if (auto t = parse_choice<RopeType>(type))
    s.type = *t;
  else
    usage_error("{}: {}.rope_type must be one of {}, got \"{}\"", where, name,
                choice_names<RopeType>(), type);
  s.factor = f.number("factor", s.factor);
  s.low_freq_factor = f.number("low_freq_factor", s.low_freq_factor);
  s.high_freq_factor = f.number("high_freq_factor", s.high_freq_factor);
  s.original_max_position_embeddings =
      f.integer("original_max_position_embeddings", s.original_max_position_embeddings);
  *rope_theta = f.number("rope_theta", *rope_theta);
  return s;
}

// Token ids may be null (none) or, for eos, a list (the first one is used).
int64_t token_id(const JsonFields& f, const json& j, const char* key, int64_t fallback) {
  if (!j.contains(key)) return fallback;
  const json& v = j[key];
  if (v.is_null()) return -1;
  if (v.is_array()) {
    if (v.empty() || !v[0].is_number_integer())
      f.wrong(key, "an integer or a non-empty list of integers");
    return v[0].get<int64_t>();
  }
  return f.integer(key, fallback);
}

}  // namespace

ModelConfig model_config_from_json(const json& j, const std::string& where) {
  if (!j.is_object()) runtime_error("{}: expected a JSON object, got {}", where, j.type_name());
  JsonFields f(j, where);
  ModelConfig c;
  c.vocab_size = f.required_integer("vocab_size");
  c.hidden_size = f.required_integer("hidden_size");
  c.intermediate_size = f.required_integer("intermediate_size");
  c.num_hidden_layers = f.required_integer("num_hidden_layers");
  c.num_attention_heads = f.required_integer("num_attention_heads");
  c.num_key_value_heads = f.integer("num_key_value_heads", c.num_attention_heads);
  c.head_dim = f.integer("head_dim", 0);
  c.max_position_embeddings = f.integer("max_position_embeddings", 2048);
  c.rms_norm_eps = f.number("rms_norm_eps", 1e-6);
  c.tie_word_embeddings = f.boolean("tie_word_embeddings", false);
  c.bos_token_id = token_id(f, j, "bos_token_id", 1);
  c.eos_token_id = token_id(f, j, "eos_token_id", 2);
  c.pad_token_id = token_id(f, j, "pad_token_id", -1);
  c.torch_dtype = f.string("torch_dtype", f.string("dtype", "float32"));

  c.rope_theta = f.number("rope_theta", 10000.0);
  if (f.has("rope_parameters"))
    c.rope_scaling = read_rope(j["rope_parameters"], where, "rope_parameters", &c.rope_theta);
  else if (f.has("rope_scaling"))
    c.rope_scaling = read_rope(j["rope_scaling"], where, "rope_scaling", &c.rope_theta);

  // Features of LlamaConfig that ptune's model does not implement.
  std::string act = f.string("hidden_act", "silu");
  if (act != "silu")
    usage_error("{}: hidden_act must be \"silu\" (SwiGLU), got \"{}\"", where, act);
  if (f.boolean("mlp_bias", false))
    usage_error("{}: mlp_bias = true is not supported; expected false", where);
  c.model_type = f.string("model_type", "llama");
  if (c.model_type == "qwen2") {
    // Qwen2Attention: q/k/v biases always, none on o_proj. No sliding window in ptune.
    if (f.boolean("use_sliding_window", false))
      usage_error(
          "{}: use_sliding_window = true is not supported (Qwen2 sliding-window "
          "attention); expected false",
          where);
  } else if (c.model_type == "llama" || c.model_type == "mistral") {
    c.attention_bias = f.boolean("attention_bias", false);
    const bool window = j.contains("sliding_window") && !j["sliding_window"].is_null();
    if (c.model_type == "mistral" && window &&
        f.integer("sliding_window", 0) < c.max_position_embeddings)
      usage_error(
          "{}: sliding_window = {} is not supported (sliding-window attention); "
          "expected null or >= max_position_embeddings ({})",
          where, f.integer("sliding_window", 0), c.max_position_embeddings);
    c.model_type = "llama";  // Mistral without a window is LLaMA
  } else {
    usage_error(
        "{}: model_type \"{}\" is not supported; expected \"llama\", \"mistral\" or "
        "\"qwen2\"",
        where, c.model_type);
  }

  try {
    validate(c);
  } catch (const Error& e) {
    usage_error("{}: {}", where, e.what());
  }
  return c;
}

json model_config_to_json(const ModelConfig& c) {
  auto id = [](int64_t v) { return v < 0 ? json(nullptr) : json(v); };
  json rope = nullptr;
  const RopeScaling& r = c.rope_scaling;
  if (r.type != RopeType::kDefault) {
    rope = {{"rope_type", name_of(r.type)}, {"factor", r.factor}};
    if (r.type == RopeType::kLlama3) {
      rope["low_freq_factor"] = r.low_freq_factor;
      rope["high_freq_factor"] = r.high_freq_factor;
    }
    if (r.original_max_position_embeddings > 0)
      rope["original_max_position_embeddings"] = r.original_max_position_embeddings;
  }
  const bool qwen2 = c.model_type == "qwen2";
  json j = {
      {"architectures", {qwen2 ? "Qwen2ForCausalLM" : "LlamaForCausalLM"}},
      {"model_type", qwen2 ? "qwen2" : "llama"},
      {"hidden_act", "silu"},
      {"vocab_size", c.vocab_size},
      {"hidden_size", c.hidden_size},
      {"intermediate_size", c.intermediate_size},
      {"num_hidden_layers", c.num_hidden_layers},
      {"num_attention_heads", c.num_attention_heads},
      {"num_key_value_heads", c.num_key_value_heads},
      {"head_dim", c.resolved_head_dim()},
      {"max_position_embeddings", c.max_position_embeddings},
      {"rms_norm_eps", c.rms_norm_eps},
      {"rope_theta", c.rope_theta},
      {"rope_scaling", rope},
      {"tie_word_embeddings", c.tie_word_embeddings},
      {"bos_token_id", id(c.bos_token_id)},
      {"eos_token_id", id(c.eos_token_id)},
      {"pad_token_id", id(c.pad_token_id)},
      {"torch_dtype", c.torch_dtype},
  };
  if (qwen2) {
    j["use_sliding_window"] = false;
    j["sliding_window"] = nullptr;
    j["max_window_layers"] = c.num_hidden_layers;
  } else {
    j["attention_bias"] = c.attention_bias;
    j["mlp_bias"] = false;
  }
  return j;
}

ModelConfig read_hf_config(const std::string& path) {
  return model_config_from_json(read_json_object(path), path);
}

void write_hf_config(const std::string& path, const ModelConfig& c) {
  write_file_atomic(path, model_config_to_json(c).dump(2) + "\n");
}

}  // namespace ptune
