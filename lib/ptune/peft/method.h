// A fine-tuning method decides how the model is wired (ModelBuilder), what is trained,
// what a training checkpoint holds and what is exported. `full` trains every parameter;
// lora / adapter / prefix (peft/*.h) freeze the base and train their own parameters.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "ptune/config/recipe.h"
#include "ptune/io/safetensors.h"
#include "ptune/model/transformer.h"

namespace ptune {

class Method {
 public:
  virtual ~Method() = default;
  virtual MethodType type() const = 0;
  std::string name() const { return name_of(type()); }
  // How projections, sublayer hooks and the key/value prefix are built for this method.
  virtual ModelBuilder builder() { return {}; }
  // Parameters the builder added that a base checkpoint does not hold (LoRA A/B, adapter
  // layers): the base is loaded strictly except for these.
  virtual std::vector<std::string> own_params(Transformer& model) { return {}; }
  // Called once the base weights are in place: freezes the base, initialises new params.
  virtual void attach(Transformer& model) {}
  // The parameters the optimizer updates, with their checkpoint names.
  virtual NamedTensors trainable(Transformer& model);
  // Weights in a training checkpoint: everything for full, trainable-only for PEFT.
  virtual NamedTensors checkpoint_tensors(Transformer& model) { return trainable(model); }
  // Plain-LLaMA weights with the method folded in; usage error if it cannot be folded.
  virtual NamedTensors merged_weights(Transformer& model);
  // Writes adapter_config.json + adapter_model.safetensors into `dir` (being built).
  virtual void export_adapter(Transformer& model, const std::string& dir,
                              const std::string& base_path) const;
  // Loads an exported adapter dir (adapter_config.json + adapter_model.safetensors) into a
  // model built with builder() and attach()ed; usage error naming the first bad key/shape.
  virtual void load_adapter(Transformer& model, const std::string& dir);
  // Whether `output.export` defaults to "adapter" (PEFT methods) or "merged" (full).
  virtual bool is_peft() const { return false; }
  // Whether merged_weights() can fold the method into plain LLaMA weights.
  virtual bool can_merge() const { return true; }
};

class FullMethod : public Method {
 public:
  MethodType type() const override { return MethodType::kFull; }
  NamedTensors checkpoint_tensors(Transformer& model) override { return model_state(*model); }
};

std::shared_ptr<Method> make_method(const MethodConfig& m, const ModelConfig& c);

// The export mode for `requested` (kByMethod: adapter for PEFT methods, merged for full),
// checked before training starts: merging adapter/prefix, or an adapter of `full`, is an error.
ExportMode resolve_export(const Method& method, ExportMode requested);

}  // namespace ptune
