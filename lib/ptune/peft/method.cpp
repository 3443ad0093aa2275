// The Method base class and its factory.
#include "ptune/peft/method.h"

#include "ptune/core/error.h"

namespace ptune {

NamedTensors Method::trainable(Transformer& model) {
  NamedTensors out;
  for (auto& p : model->named_parameters())
    if (p.value().requires_grad()) out.emplace_back(p.key(), p.value());
  return out;
}

NamedTensors Method::merged_weights(Transformer& model) { return model_state(*model); }

void Method::export_adapter(Transformer&, const std::string&, const std::string&) const {
  usage_error("output.export: method '{}' has no adapter to export; use export: merged", name());
}

std::shared_ptr<Method> make_method(const MethodConfig& m, const ModelConfig& c) {
  if (m.type == "full") return std::make_shared<FullMethod>();
  usage_error("method.type: '{}' is not available in this build yet", m.type);
}

}  // namespace ptune
