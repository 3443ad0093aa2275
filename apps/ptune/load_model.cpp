#include "load_model.h"

#include <filesystem>

#include "ptune/core/error.h"
#include "ptune/io/adapter_config.h"
#include "ptune/io/checkpoint.h"
#include "ptune/model/pretrained.h"
#include "ptune/train/memory_estimate.h"

namespace ptune::cli {

LoadedModel load_model(const std::string& command, const std::string& model_dir_in,
                       const std::string& adapter, const std::string& tokenizer) {
  const std::string model_dir =
      model_dir_in.empty() ? read_adapter_config(adapter).base_model_name_or_path : model_dir_in;
  std::string tok_path = tokenizer;
  if (tok_path.empty() && !adapter.empty() && std::filesystem::exists(adapter + "/tokenizer.model"))
    tok_path = adapter + "/tokenizer.model";
  if (tok_path.empty()) tok_path = model_dir + "/tokenizer.model";
  if (!std::filesystem::exists(tok_path))
    usage_error("{}: no tokenizer at '{}'; pass --tokenizer PATH", command, tok_path);
  LoadedModel m{model_dir, Tokenizer::load(tok_path), {}};
  // A missing or broken base is reported by the loaders below, with their own messages.
  if (std::filesystem::exists(model_dir + "/config.json"))
    check_memory(inference_memory(read_checkpoint_config(model_dir)), torch::kCPU, command,
                 "the model alone does not fit");
  if (!adapter.empty())
    m.pm = load_with_adapter(model_dir, adapter);
  else
    m.pm.model = load_pretrained(model_dir);
  m.pm.model->eval();
  return m;
}

}  // namespace ptune::cli
