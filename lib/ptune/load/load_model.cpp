// Loading what eval and generate run (see load_model.h).
#include "ptune/load/load_model.h"

#include <filesystem>

#include "ptune/core/error.h"
#include "ptune/io/adapter_config.h"
#include "ptune/io/checkpoint.h"
#include "ptune/io/hf_cache.h"
#include "ptune/load/memory_estimate.h"
#include "ptune/model/pretrained.h"
#include "ptune/mtp/heads_io.h"

namespace ptune {

LoadedModel load_model(const std::string& command, const std::string& model_dir_in,
                       const std::string& adapter, const std::string& tokenizer) {
  const std::string model_dir = resolve_model_dir(
      model_dir_in.empty() ? read_adapter_config(adapter).base_model_name_or_path : model_dir_in);
  auto has_tokenizer = [](const std::string& dir) {
    return std::filesystem::exists(dir + "/tokenizer.json") ||
           std::filesystem::exists(dir + "/tokenizer.model");
  };
  std::string tok_path = tokenizer;
  if (tok_path.empty() && !adapter.empty() && has_tokenizer(adapter)) tok_path = adapter;
  if (tok_path.empty()) tok_path = model_dir;
  if (!std::filesystem::exists(tok_path) ||
      (std::filesystem::is_directory(tok_path) && !has_tokenizer(tok_path)))
    usage_error("{}: no tokenizer.json or tokenizer.model in '{}'; pass --tokenizer PATH", command,
                tok_path);
  LoadedModel m{model_dir, "", Tokenizer::load(tok_path), {}};
  // A missing or broken base is reported by the loaders below, with their own messages.
  if (std::filesystem::exists(model_dir + "/config.json"))
    check_memory(inference_memory(read_checkpoint_config(model_dir)), torch::kCPU, command,
                 "the model alone does not fit");
  if (!adapter.empty())
    m.pm = load_with_adapter(model_dir, adapter);
  else
    m.pm.model = load_pretrained(model_dir);
  m.pm.model->eval();
  if (!adapter.empty() && has_mtp_heads(adapter))
    m.heads_dir = adapter;  // a PEFT run with an mtp: section saves them beside the adapter
  else if (has_mtp_heads(model_dir))
    m.heads_dir = model_dir;
  return m;
}

MtpHeads load_heads(LoadedModel& m) {
  PTUNE_CHECK(!m.heads_dir.empty(), "load_heads: the model has no MTP heads");
  return load_mtp_heads(m.heads_dir, m.pm.model).second;
}

}  // namespace ptune
