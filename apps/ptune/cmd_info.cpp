// ptune info --model DIR [--adapter DIR] [--json]: architecture, parameter counts and dtypes of
// a checkpoint (and of an adapter on top of it), from the file headers (io/checkpoint_info.h).
#include <iostream>

#include "commands.h"
#include "ptune/io/checkpoint_info.h"
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
    const CheckpointInfo i = inspect_checkpoint(*dir, *adapter);
    const ModelConfig& c = i.config;
    if (*json) {
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
                       {"parameters", i.parameters},
                       {"trainable_parameters", i.trainable},
                       {"tensors", i.tensors},
                       {"dtype", i.dtypes}};
      if (!i.adapter.empty()) {
        rec["adapter"] = i.adapter;
        rec["peft_type"] = i.peft_type;
      }
      std::cout << metric_json(rec) << "\n";
      return;
    }
    const std::string scaling = c.rope_scaling.type != RopeType::kDefault
                                    ? std::string(", rope_scaling ") + name_of(c.rope_scaling.type)
                                    : "";
    std::cout << "model:       " << i.model_dir << "\n";
    if (!i.adapter.empty())
      std::cout << "adapter:     " << i.adapter << " (" << i.peft_type << ")\n";
    std::cout << "arch:        LlamaForCausalLM, " << c.num_hidden_layers << " layers, hidden "
              << c.hidden_size << ", ffn " << c.intermediate_size << ", heads "
              << c.num_attention_heads << " (kv " << c.num_key_value_heads << ", head_dim "
              << c.resolved_head_dim() << ")\n"
              << "vocab:       " << c.vocab_size << (c.tie_word_embeddings ? " (tied head)" : "")
              << "\n"
              << "positions:   " << c.max_position_embeddings << ", rope_theta " << c.rope_theta
              << scaling << "\n"
              << "parameters:  " << i.parameters << " total, " << i.trainable << " trainable\n"
              << "dtype:       " << i.dtypes << "\n";
  });
}

}  // namespace ptune::cli
