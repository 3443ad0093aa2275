// Bottleneck adapters (Houlsby et al. 2019, arXiv:1902.00751): x + up(drop(act(down(x))))
// applied to a sublayer's output before its residual add, after attention and/or the MLP
// (placement [mlp] alone is the Pfeiffer variant). up starts at zero, so a new adapter is
// the identity. Parameters: model.layers.N.{attn,mlp}_adapter.{down,up}.{weight,bias}.
#pragma once

#include "ptune/peft/method.h"

namespace ptune {

class BottleneckImpl : public SublayerHookImpl {
 public:
  BottleneckImpl(int64_t hidden, const AdapterConfig& c);
  torch::Tensor forward(const torch::Tensor& x) override;  // (B, T, d) -> (B, T, d)
  void reset();                                            // down: nn.Linear default init; up: zero

  torch::Tensor down_weight, down_bias;  // (bottleneck, d), (bottleneck)  "down.weight", ...
  torch::Tensor up_weight, up_bias;      // (d, bottleneck), (d)
  std::string activation;
  double dropout;
};

class AdapterMethod : public Method {
 public:
  explicit AdapterMethod(AdapterConfig c) : c_(std::move(c)) {}
  MethodType type() const override { return MethodType::kAdapter; }
  ModelBuilder builder() override;
  std::vector<std::string> own_params(Transformer& model) override;
  void attach(Transformer& model) override;
  void export_adapter(Transformer& model, const std::string& dir,
                      const std::string& base_path) const override;
  void load_adapter(Transformer& model, const std::string& dir) override;
  bool is_peft() const override { return true; }
  bool can_merge() const override { return false; }

 private:
  AdapterConfig c_;
};

}  // namespace ptune
