// ptune info --model DIR: architecture, parameter counts and dtypes of a checkpoint, read
// from config.json and the safetensors headers (no weights are loaded).
#include <iostream>
#include <map>

#include "commands.h"
#include "ptune/io/checkpoint.h"
#include "ptune/io/safetensors.h"
#include "ptune/train/metrics.h"

namespace ptune::cli {

void add_info(CLI::App& app, const GlobalOptions& g) {
  auto dir = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  auto* cmd = app.add_subcommand("info", "architecture, parameter counts and dtype of a checkpoint");
  cmd->add_option("-m,--model", *dir, "checkpoint dir")->required();
  cmd->add_flag("--json", *json, "one JSON object instead of text");
  cmd->callback([dir, json, &g] {
    start(g);
    const ModelConfig c = read_checkpoint_config(*dir);
    const CheckpointWeights w = CheckpointWeights::open(*dir);
    int64_t total = 0;
    std::map<std::string, int64_t> by_dtype;
    for (const auto& k : w.keys()) {
      const TensorInfo& t = w.info(k);
      int64_t n = 1;
      for (auto d : t.shape) n *= d;
      total += n;
      by_dtype[safetensors_dtype_name(t.dtype)] += n;
    }
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
                     {"trainable_parameters", total},
                     {"tensors", static_cast<int64_t>(w.keys().size())},
                     {"dtype", dtypes}};
    if (*json) {
      std::cout << metric_json(rec) << "\n";
      return;
    }
    std::cout << "model:       " << *dir << "\n"
              << "arch:        LlamaForCausalLM, " << c.num_hidden_layers << " layers, hidden "
              << c.hidden_size << ", ffn " << c.intermediate_size << ", heads "
              << c.num_attention_heads << " (kv " << c.num_key_value_heads << ", head_dim "
              << c.resolved_head_dim() << ")\n"
              << "vocab:       " << c.vocab_size << (c.tie_word_embeddings ? " (tied head)" : "") << "\n"
              << "positions:   " << c.max_position_embeddings << ", rope_theta " << c.rope_theta
              << (c.rope_scaling.type != "default" ? ", rope_scaling " + c.rope_scaling.type : "")
              << "\n"
              << "parameters:  " << total << " total, " << total << " trainable\n"
              << "dtype:       " << dtypes << "\n";
  });
}

}  // namespace ptune::cli
