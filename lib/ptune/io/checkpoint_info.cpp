// Checkpoint summary from the file headers (see checkpoint_info.h).
#include "ptune/io/checkpoint_info.h"

#include <filesystem>
#include <map>

#include "ptune/core/error.h"
#include "ptune/io/adapter_config.h"
#include "ptune/io/checkpoint.h"
#include "ptune/io/hf_cache.h"

namespace ptune {

namespace {

int64_t numel(const TensorInfo& t) {
  int64_t n = 1;
  for (auto d : t.shape) n *= d;
  return n;
}

}  // namespace

CheckpointInfo inspect_checkpoint(const std::string& model_dir, const std::string& adapter) {
  CheckpointInfo out;
  out.model_dir = model_dir;
  out.adapter = adapter;
  int64_t adapter_params = 0, replaced = 0;  // replaced: modules_to_save copies of base tensors
  if (!adapter.empty()) {
    const AdapterFileConfig ac = read_adapter_config(adapter);
    out.peft_type = ac.peft_type;
    if (out.model_dir.empty()) out.model_dir = ac.base_model_name_or_path;
    auto st = SafetensorsFile::open(adapter + "/" + kAdapterWeightsFile);
    for (const auto& t : st->tensors()) {
      adapter_params += numel(t);
      if (ac.peft_type == "LORA" && t.name.find(".lora_") == std::string::npos)
        replaced += numel(t);
    }
  }
  if (out.model_dir.empty()) usage_error("info: pass --model DIR");
  out.model_dir = resolve_model_dir(out.model_dir);
  if (!std::filesystem::is_directory(out.model_dir))
    usage_error("info: model '{}' is not a directory", out.model_dir);
  out.config = read_checkpoint_config(out.model_dir);
  const CheckpointWeights w = CheckpointWeights::open(out.model_dir);
  std::map<std::string, int64_t> by_dtype;
  for (const auto& k : w.keys()) {
    const TensorInfo& t = w.info(k);
    out.parameters += numel(t);
    by_dtype[safetensors_dtype_name(t.dtype)] += numel(t);
  }
  out.tensors = static_cast<int64_t>(w.keys().size());
  out.trainable = adapter.empty() ? out.parameters : adapter_params;
  out.parameters += adapter_params - replaced;
  for (const auto& [d, n] : by_dtype) out.dtypes += (out.dtypes.empty() ? "" : ",") + d;
  return out;
}

}  // namespace ptune
