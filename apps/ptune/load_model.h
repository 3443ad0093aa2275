// The model a command runs, from its --model / --adapter / --tokenizer flags (eval, generate):
// the base defaults to the adapter's base_model_name_or_path; the tokenizer to
// ADAPTER/tokenizer.model, else MODEL/tokenizer.model.
#pragma once

#include <string>

#include "ptune/data/tokenizer.h"
#include "ptune/peft/peft_model.h"

namespace ptune::cli {

struct LoadedModel {
  std::string model_dir;  // the (base) checkpoint dir actually loaded
  Tokenizer tok;
  PeftModel pm;  // pm.method is null without an adapter
};

// `command` prefixes the usage error when no tokenizer is found. One of model_dir and
// adapter must be non-empty. The model is put in eval mode.
LoadedModel load_model(const std::string& command, const std::string& model_dir,
                       const std::string& adapter, const std::string& tokenizer);

}  // namespace ptune::cli
