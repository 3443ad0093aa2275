// What eval and generate run, from their --model / --adapter / --tokenizer flags: a checkpoint
// dir, optionally an adapter applied on it without merging, and the tokenizer. The base
// defaults to the adapter's base_model_name_or_path; the tokenizer to ADAPTER/tokenizer.model,
// else MODEL/tokenizer.model; MTP heads are the adapter's when it has them, else the model's.
#pragma once

#include <string>

#include "ptune/data/tokenizer.h"
#include "ptune/mtp/heads.h"
#include "ptune/peft/peft_model.h"

namespace ptune {

struct LoadedModel {
  std::string model_dir;  // the (base) checkpoint dir actually loaded
  std::string heads_dir;  // the dir holding MTP heads (mtp_heads.safetensors), "" = none
  Tokenizer tok;
  PeftModel pm;  // pm.method is null without an adapter
};

// `command` prefixes usage errors ("eval: no tokenizer at ..."). One of model_dir and adapter
// must be non-empty. Checks that the weights fit in memory first; the model is in eval mode.
LoadedModel load_model(const std::string& command, const std::string& model_dir,
                       const std::string& adapter, const std::string& tokenizer);

// The MTP heads of `m` (heads_dir must be non-empty), built on its model.
MtpHeads load_heads(LoadedModel& m);

}  // namespace ptune
