// LoRA (Hu et al. 2021, arXiv:2106.09685) as PEFT computes it: y = W x + scale * B A drop(x),
// A (r, in) Kaiming-uniform (a = sqrt 5) or normal(0, 1/r), B (out, r) zero, scale = alpha/r
// or alpha/sqrt(r) with rsLoRA. The frozen base W may be stored in bf16 (it is cast to the
// activation dtype in mixed_linear()); A and B stay fp32. A base bias stays as it is (PEFT's
// lora_bias false). Parameter names: <module>.weight, <module>.bias, <module>.lora_A.weight,
// <module>.lora_B.weight.
#pragma once

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "ptune/peft/method.h"

namespace ptune {

// scale for rank r: alpha / r, or alpha / sqrt(r) with rsLoRA.
double lora_scale(double alpha, int64_t r, bool rslora);

// The folded update scale * B @ A in fp32, (out, in).
torch::Tensor lora_delta(const torch::Tensor& A, const torch::Tensor& B, double scale);

class LoRALinearImpl : public ProjectionImpl {
 public:
  // `base_dtype`: storage of the frozen base weight (fp32, or bf16 for method.lora.base_dtype).
  LoRALinearImpl(int64_t in, int64_t out, int64_t r, double scale, double dropout,
                 torch::ScalarType base_dtype = torch::kFloat, bool bias = false);
  torch::Tensor forward(const torch::Tensor& x) override;  // (..., in) -> (..., out)
  torch::Tensor base_weight() const override { return weight; }
  void reset_lora(const std::string& init);  // kaiming | gaussian A, zero B
  torch::Tensor delta() const { return lora_delta(lora_A->weight, lora_B->weight, scale); }

  torch::Tensor weight;                // (out, in) frozen base, HF name "weight"
  torch::Tensor bias;                  // (out) frozen base bias (Qwen2 q/k/v); or undefined
  std::shared_ptr<LinearImpl> lora_A;  // weight (r, in)
  std::shared_ptr<LinearImpl> lora_B;  // weight (out, r)
  double scale;
  double dropout;
};

class LoraMethod : public Method {
 public:
  // `modules`: exact HF module paths to wrap (an adapter read from disk); otherwise the
  // recipe's targets and layers decide.
  explicit LoraMethod(LoraConfig c, std::optional<std::set<std::string>> modules = std::nullopt);
  MethodType type() const override { return MethodType::kLora; }
  ModelBuilder builder() override;
  std::vector<std::string> own_params(Transformer& model) override;
  void attach(Transformer& model) override;
  NamedTensors merged_weights(Transformer& model) override;
  void export_adapter(Transformer& model, const std::string& dir,
                      const std::string& base_path) const override;
  void load_adapter(Transformer& model, const std::string& dir) override;
  bool is_peft() const override { return true; }

  bool targets(const std::string& path) const;  // whether module `path` gets LoRA
  const LoraConfig& config() const { return c_; }

 private:
  LoraConfig c_;
  std::optional<std::set<std::string>> modules_;
  std::set<std::string> bf16_base_;  // params attach() stored in bf16 (merged back as fp32)
};

}  // namespace ptune
