// Loading a base model with an adapter applied (see peft_model.h).
#include "ptune/peft/peft_model.h"

#include <filesystem>

#include "ptune/core/error.h"
#include "ptune/io/checkpoint.h"
#include "ptune/io/hf_cache.h"
#include "ptune/io/weights.h"
#include "ptune/model/weight_init.h"
#include "ptune/peft/adapter.h"
#include "ptune/peft/lora.h"
#include "ptune/peft/lora_file.h"
#include "ptune/peft/prefix.h"

namespace ptune {

std::shared_ptr<Method> method_for_adapter(const std::string& dir, const AdapterFileConfig& c,
                                           const ModelConfig& base) {
  const std::string where = dir + "/" + kAdapterConfigFile;
  if (c.peft_type == "LORA") {
    LoraAdapter a = read_lora_adapter(dir);
    // The modules are built with the config's r: check it against the file first, so that a
    // wrong (or absurd) r is this message, not a model of that size.
    for (const auto& [path, m] : a.modules)
      if (m.A.defined() && m.A.dim() == 2 && m.A.size(0) != c.r)
        usage_error("{}: r is {}, but adapter key '{}' has shape {} (rank {})", where, c.r, m.key_A,
                    c10::str(m.A.sizes()), m.A.size(0));
    LoraConfig lc;
    lc.r = c.r;
    lc.alpha = c.lora_alpha;
    lc.rslora = c.use_rslora;
    lc.dropout = 0.0;
    lc.modules_to_save.clear();
    std::set<std::string> modules;
    for (const auto& [path, _] : a.modules) modules.insert(path);
    return std::make_shared<LoraMethod>(lc, modules);
  }
  if (c.peft_type == "PREFIX_TUNING") {
    const int64_t token_dim = base.num_key_value_heads * base.resolved_head_dim();
    if (c.num_layers != base.num_hidden_layers || c.token_dim != token_dim)
      usage_error(
          "{}: num_layers {} and token_dim {} do not match the base model ({} layers, "
          "num_key_value_heads * head_dim = {})",
          where, c.num_layers, c.token_dim, base.num_hidden_layers, token_dim);
    PrefixConfig pc;
    pc.virtual_tokens = c.num_virtual_tokens;
    pc.projection = false;  // the file holds the encoder output
    return std::make_shared<PrefixMethod>(pc, base);
  }
  if (c.peft_type == "PTUNE_BOTTLENECK") {
    if (c.hidden_size != base.hidden_size)
      usage_error("{}: hidden_size {} does not match the base model's {}", where, c.hidden_size,
                  base.hidden_size);
    AdapterConfig ac;
    ac.bottleneck = c.bottleneck;
    ac.placement = c.placement;
    ac.activation = c.activation;
    ac.dropout = 0.0;
    return std::make_shared<AdapterMethod>(ac);
  }
  usage_error(
      "{}: peft_type '{}' is not supported; expected LORA, PREFIX_TUNING or PTUNE_BOTTLENECK",
      where, c.peft_type);
}

PeftModel load_with_adapter(const std::string& base_dir, const std::string& adapter_dir) {
  PeftModel pm;
  pm.config = read_adapter_config(adapter_dir);
  const std::string base =
      resolve_model_dir(base_dir.empty() ? pm.config.base_model_name_or_path : base_dir);
  if (base.empty())
    usage_error("{}: base_model_name_or_path is empty; pass the base model with --model DIR",
                adapter_dir);
  if (!std::filesystem::is_directory(base))
    usage_error("base model '{}' (from {}) is not a directory; pass --model DIR", base,
                base_dir.empty() ? adapter_dir + "/" + kAdapterConfigFile : "--model");
  const ModelConfig cfg = read_checkpoint_config(base);
  pm.method = method_for_adapter(adapter_dir, pm.config, cfg);
  {
    SkipWeightInit loading;  // the base's weights are loaded below
    pm.model = Transformer(cfg, pm.method->builder());
  }
  load_weights(*pm.model, CheckpointWeights::open(base), true, pm.method->own_params(pm.model));
  pm.method->attach(pm.model);
  pm.method->load_adapter(pm.model, adapter_dir);
  pm.model->eval();
  return pm;
}

}  // namespace ptune
