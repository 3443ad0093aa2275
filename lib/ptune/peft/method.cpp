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

ExportMode resolve_export(const Method& method, ExportMode requested) {
  const ExportMode mode = requested != ExportMode::kByMethod ? requested
                          : method.is_peft()                 ? ExportMode::kAdapter
                                                             : ExportMode::kMerged;
  if (mode != ExportMode::kAdapter && !method.can_merge())
    usage_error(
        "output.export: '{}' needs merged weights, but method '{}' cannot be folded into "
        "LLaMA weights (it adds {}); use export: adapter",
        name_of(mode), method.name(),
        method.type() == MethodType::kPrefix ? "virtual tokens to attention"
                                             : "layers to each block");
  if (mode != ExportMode::kMerged && !method.is_peft())
    usage_error(
        "output.export: '{}' needs an adapter, but method '{}' trains every weight; use "
        "export: merged",
        name_of(mode), method.name());
  return mode;
}

std::shared_ptr<Method> make_method(const MethodConfig& m, const ModelConfig& c) {
  switch (m.type) {
    case MethodType::kFull:
      return std::make_shared<FullMethod>();
    case MethodType::kLora:
      return std::make_shared<LoraMethod>(m.lora);
    case MethodType::kAdapter:
      return std::make_shared<AdapterMethod>(m.adapter);
    case MethodType::kPrefix:
      return std::make_shared<PrefixMethod>(m.prefix, c);
  }
  PTUNE_CHECK(false, "method.type {}", static_cast<int>(m.type));
  return nullptr;
}

}  // namespace ptune
