// ptune info --model DIR [--adapter DIR]: architecture, parameter counts and dtypes of a
// checkpoint (and of an adapter on top of it), read from config.json, adapter_config.json
// and the safetensors headers (no weights are loaded).
#include <filesystem>
#include <iostream>
#include <map>

#include "commands.h"
#include "ptune/core/error.h"
#include "ptune/io/adapter_config.h"
#include "ptune/io/checkpoint.h"
#include "ptune/io/safetensors.h"
#include "ptune/train/metrics.h"

namespace ptune::cli {

void add_info(CLI::App& app, const GlobalOptions& g) {
  auto dir = std::make_shared<std::string>();
  auto adapter = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  auto* cmd =
      app.add_subcommand("info", "architecture, parameter counts and dtype of a checkpoint");
  cmd->add_option("-m,--model", *dir,
                  "checkpoint dir (with --adapter: the base; default: the "
                  "adapter's base_model_name_or_path)");
  cmd->add_option("--adapter", *adapter, "adapter dir: count its parameters as the trainable ones");
  cmd->add_flag("--json", *json, "one JSON object instead of text");
  cmd->callback([dir, adapter, json, &g] {
    start(g);
    std::string base = *dir;
    AdapterFileConfig ac;
    int64_t adapter_params = 0, replaced = 0;  // replaced: modules_to_save copies of base tensors
    if (!adapter->empty()) {
      ac = read_adapter_config(*adapter);
      if (base.empty()) base = ac.base_model_name_or_path;
      auto st = SafetensorsFile::open(*adapter + "/" + kAdapterWeightsFile);
      for (const auto& t : st->tensors()) {
        int64_t n = 1;
        for (auto d : t.shape) n *= d;
        adapter_params += n;
        if (ac.peft_type == "LORA" && t.name.find(".lora_") == std::string::npos) replaced += n;
      }
    }
    if (base.empty()) usage_error("info: pass --model DIR");
    if (!std::filesystem::is_directory(base))
      usage_error("info: model '{}' is not a directory", base);
    const ModelConfig c = read_checkpoint_config(base);
    const CheckpointWeights w = CheckpointWeights::open(base);
    int64_t total = 0;
    std::map<std::string, int64_t> by_dtype;
    for (const auto& k : w.keys()) {
      const TensorInfo& t = w.info(k);
      int64_t n = 1;
      for (auto d : t.shape) n *= d;
      total += n;
      by_dtype[safetensors_dtype_name(t.dtype)] += n;
    }
    const int64_t trainable = adapter->empty() ? total : adapter_params;
    total += adapter_params - replaced;
    std::string dtypes;
    for (const auto& [d, n] : by_dtype) dtypes += (dtypes.empty() ? "" : ",") + d;
    MetricRecord rec{{"architecture", std::string("LlamaForCausalLM")},
                     {"vocab_size", c.vocab_size},
                     {"hidden_size", c.hidden_size},
                     {"intermediate_size", c.intermediate_size},
                     {"num_hidden_layers", c.num_hidden_layers},
                     {"num_attention_heads", c.num_attention_heads},
                     {"num_key_value_heads", c.num_key_value_heads},
                     {"head_dim", c.resolved_head_dim()},
                     {"max_position_embeddings", c.max_position_embeddings},
                     {"rope_theta", c.rope_theta},
                     {"tie_word_embeddings", static_cast<int64_t>(c.tie_word_embeddings)},
                     {"parameters", total},
                     {"trainable_parameters", trainable},
                     {"tensors", static_cast<int64_t>(w.keys().size())},
                     {"dtype", dtypes}};
    if (!adapter->empty()) {
      rec["adapter"] = *adapter;
      rec["peft_type"] = ac.peft_type;
    }
    if (*json) {
      std::cout << metric_json(rec) << "\n";
      return;
    }
    std::cout << "model:       " << base << "\n";
    if (!adapter->empty())
      std::cout << "adapter:     " << *adapter << " (" << ac.peft_type << ")\n";
    std::cout << "arch:        LlamaForCausalLM, " << c.num_hidden_layers << " layers, hidden "
              << c.hidden_size << ", ffn " << c.intermediate_size << ", heads "
              << c.num_attention_heads << " (kv " << c.num_key_value_heads << ", head_dim "
              << c.resolved_head_dim() << ")\n"
              << "vocab:       " << c.vocab_size << (c.tie_word_embeddings ? " (tied head)" : "")
              << "\n"
              << "positions:   " << c.max_position_embeddings << ", rope_theta " << c.rope_theta
              << (c.rope_scaling.type != "default" ? ", rope_scaling " + c.rope_scaling.type : "")
              << "\n"
              << "parameters:  " << total << " total, " << trainable << " trainable\n"
              << "dtype:       " << dtypes << "\n";
  });
}

}  // namespace ptune::cli
