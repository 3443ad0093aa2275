// The Method base class, the export-mode rules and the factory.
#include "ptune/peft/method.h"

#include "ptune/core/error.h"
#include "ptune/peft/adapter.h"
#include "ptune/peft/lora.h"
#include "ptune/peft/prefix.h"

namespace ptune {

NamedTensors Method::trainable(Transformer& model) {
  NamedTensors out;
  for (auto& p : model->named_parameters())
    if (p.value().requires_grad()) out.emplace_back(p.key(), p.value());
  return out;
}

NamedTensors Method::merged_weights(Transformer& model) {
  return model_state(*model);
}

void Method::export_adapter(Transformer&, const std::string&, const std::string&) const {
  usage_error("output.export: method '{}' has no adapter to export; use export: merged", name());
}

void Method::load_adapter(Transformer&, const std::string& dir) {
  usage_error("{}: method '{}' has no adapter to load", dir, name());
}

std::string resolve_export(const Method& method, const std::string& requested) {
  const std::string mode =
      requested.empty() ? (method.is_peft() ? "adapter" : "merged") : requested;
  if ((mode == "merged" || mode == "both") && !method.can_merge())
    usage_error(
        "output.export: '{}' needs merged weights, but method '{}' cannot be folded into "
        "LLaMA weights (it adds {}); use export: adapter",
        mode, method.name(),
        method.name() == "prefix" ? "virtual tokens to attention" : "layers to each block");
  if ((mode == "adapter" || mode == "both") && !method.is_peft())
    usage_error(
        "output.export: '{}' needs an adapter, but method '{}' trains every weight; use "
        "export: merged",
        mode, method.name());
  return mode;
}

std::shared_ptr<Method> make_method(const MethodConfig& m, const ModelConfig& c) {
  if (m.type == "full") return std::make_shared<FullMethod>();
  if (m.type == "lora") return std::make_shared<LoraMethod>(m.lora);
  if (m.type == "adapter") return std::make_shared<AdapterMethod>(m.adapter);
  if (m.type == "prefix") return std::make_shared<PrefixMethod>(m.prefix, c);
  usage_error("method.type: expected one of full, lora, adapter, prefix, got '{}'", m.type);
}

}  // namespace ptune
