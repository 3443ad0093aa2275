// Loading checkpoint tensors into HF-named parameters: names are the checkpoint keys, so
// there is no translation table; shapes must match exactly, dtypes are cast on copy. A CPU
// tensor of the parameter's dtype is not copied at all: the parameter views the mapping.
#include "ptune/io/weights.h"

#include <set>

#include "ptune/core/error.h"
#include "ptune/core/log.h"
#include "ptune/core/text.h"

namespace ptune {

LoadReport load_weights(torch::nn::Module& m, const CheckpointWeights& w, bool strict,
                        const std::vector<std::string>& allow_missing) {
  LoadReport report;
  std::set<std::string> used;
  torch::NoGradGuard no_grad;
  for (auto& item : m.named_parameters(/*recurse=*/true)) {
    const std::string& name = item.key();
    torch::Tensor& param = item.value();
    if (!w.contains(name)) {
      report.missing.push_back(name);
      continue;
    }
    torch::Tensor t = w.get(name);
    if (t.sizes() != param.sizes())
      runtime_error("tensor '{}' has wrong shape; expected {}, got {} (in {})", name,
                    c10::str(param.sizes()), c10::str(t.sizes()), w.file_of(name));
    if (t.scalar_type() == param.scalar_type() && param.device().is_cpu() && t.is_contiguous())
      param.set_data(t);  // zero-copy: the parameter views the mapped file (copy-on-write)
    else
      param.copy_(t);  // casts to the parameter's dtype and device
    used.insert(name);
  }
  // e.g. lm_head.weight of a tied checkpoint loaded into a model without an lm_head.
  for (const auto& key : w.keys())
    if (!used.count(key)) report.unexpected.push_back(key);
  // A bias the model has no place for would be dropped silently: the config and the weights
  // disagree (e.g. Qwen2 weights under a LlamaConfig without attention_bias).
  for (const auto& key : report.unexpected)
    if (key.rfind("model.layers.", 0) == 0 && ends_with(key, "_proj.bias"))
      runtime_error(
          "{}: checkpoint tensor '{}' has no parameter in the model: config.json declares no such "
          "bias (Qwen2 checkpoints need model_type \"qwen2\"; LLaMA ones attention_bias: true)",
          w.file_of(key), key);
  if (!report.unexpected.empty())
    PTUNE_DEBUG("{}: {} checkpoint tensor(s) unused, first '{}'", w.dir(), report.unexpected.size(),
                report.unexpected.front());

  if (strict) {
    std::vector<std::string> missing;
    for (const auto& name : report.missing) {
      bool allowed = false;
      for (const auto& prefix : allow_missing) allowed |= name.rfind(prefix, 0) == 0;
      if (!allowed) missing.push_back(name);
    }
    if (!missing.empty()) {
      constexpr size_t kShown = 5;
      std::string names;
      for (size_t i = 0; i < missing.size() && i < kShown; ++i)
        names += (i ? ", " : "") + missing[i];
      if (missing.size() > kShown) names += fmt::format(" (and {} more)", missing.size() - kShown);
      runtime_error("{}: checkpoint is missing {} parameter(s) the model needs: {}", w.dir(),
                    missing.size(), names);
    }
  }
  return report;
}

}  // namespace ptune
