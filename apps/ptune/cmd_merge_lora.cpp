// ptune merge-lora --base DIR --adapter DIR --out DIR [--dtype fp16]: folds a PEFT LoRA
// adapter (ptune's or PEFT's own) into its base and writes a plain HF checkpoint dir.
#include "commands.h"
#include "ptune/core/log.h"
#include "ptune/peft/lora_file.h"

namespace ptune::cli {

void add_merge_lora(CLI::App& app, const GlobalOptions& g) {
  auto o = std::make_shared<MergeLoraOptions>();
  auto* cmd = app.add_subcommand("merge-lora",
                                 "fold a PEFT LoRA adapter into its base model (W + scale * B A)");
  cmd->add_option("--base", o->base, "base checkpoint dir (config.json + model.safetensors)")
      ->required();
  cmd->add_option("--adapter", o->adapter,
                  "adapter dir (adapter_config.json + adapter_model.safetensors)")
      ->required();
  cmd->add_option("--out", o->out, "output checkpoint dir (written atomically)")->required();
  add_choice<DType>(cmd, "--dtype", o->dtype, "dtype of the merged weights (default: the base's)");
  cmd->callback([o, &g] {
    start(g);
    merge_lora(*o);
    PTUNE_INFO("merged {} into {} -> {}", o->adapter, o->base, o->out);
  });
}

}  // namespace ptune::cli
