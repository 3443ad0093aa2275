// LoRALinear and the LoRA method: builder wiring, freezing, merge, PEFT export and load.
#include "ptune/peft/lora.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>

#include "ptune/core/error.h"
#include "ptune/io/adapter_config.h"
#include "ptune/model/projection.h"
#include "ptune/model/weight_init.h"
#include "ptune/ops/mixed_precision.h"
#include "ptune/peft/lora_file.h"
#include "ptune/peft/lora_targets.h"

namespace ptune {

namespace {

const char* const kLinearNames[] = {"q_proj",    "k_proj",  "v_proj",   "o_proj",
                                    "gate_proj", "up_proj", "down_proj"};

template <class F>
void for_each_lora(Transformer& model, F&& f) {
  for (auto& item : model->named_modules())
    if (auto l = std::dynamic_pointer_cast<LoRALinearImpl>(item.value())) f(item.key(), *l);
}

}  // namespace

double lora_scale(double alpha, int64_t r, bool rslora) {
  return rslora ? alpha / std::sqrt(static_cast<double>(r)) : alpha / static_cast<double>(r);
}

torch::Tensor lora_delta(const torch::Tensor& A, const torch::Tensor& B, double scale) {
  // B (out, r) @ A (r, in) -> (out, in), in fp32 (PEFT upcasts half weights to merge on CPU)
  return torch::matmul(B.detach().to(torch::kFloat), A.detach().to(torch::kFloat)).mul_(scale);
}

LoRALinearImpl::LoRALinearImpl(int64_t in, int64_t out, int64_t r, double scale_, double dropout_,
                               torch::ScalarType base_dtype, bool with_bias)
    : scale(scale_), dropout(dropout_) {
  weight = register_parameter("weight", torch::empty({out, in}, base_dtype));
  if (with_bias) bias = register_parameter("bias", torch::zeros({out}));
  lora_A = register_module("lora_A", std::make_shared<LinearImpl>(in, r));
  lora_B = register_module("lora_B", std::make_shared<LinearImpl>(r, out));
  torch::NoGradGuard no_grad;
  if (!weight_init_skipped()) weight.normal_(0.0, 0.02);
  reset_lora("kaiming");
}

void LoRALinearImpl::reset_lora(const std::string& init) {
  torch::NoGradGuard no_grad;
  if (init == "gaussian")
    lora_A->weight.normal_(0.0, 1.0 / static_cast<double>(lora_A->weight.size(0)));
  else
    torch::nn::init::kaiming_uniform_(lora_A->weight, std::sqrt(5.0));
  lora_B->weight.zero_();
}

torch::Tensor LoRALinearImpl::forward(const torch::Tensor& x) {
  // x (..., in): base (..., out) + scale * B(A(drop(x)))
  auto h = dropout > 0 && is_training() ? mixed_dropout(x, dropout) : x;
  auto a = lora_A->forward(h);          // (..., r)
  if (emulates_gemm(x) || x.dim() < 2)  // emulated GEMMs round each product: keep PEFT's ops
    return add_bias(mixed_linear(x, weight), bias) + lora_B->forward(a) * scale;
  // The B GEMM accumulates scale * a B^T into the base output (beta 1, alpha scale): no
  // (..., out) temporaries for the product, the scaling or the sum, forward or backward.
  // mixed_linear() of the 2-D rows is a plain mm result (not a view), so addmm_ may write into it;
  // .to() is a no-op when B is already in the compute dtype.
  auto out = mixed_linear(x.reshape({-1, x.size(-1)}), weight);  // (N, out)
  out.addmm_(a.reshape({-1, a.size(-1)}), lora_B->weight.to(out.scalar_type()).t(), /*beta=*/1.0,
             /*alpha=*/scale);
  if (bias.defined()) out.add_(bias.to(out.scalar_type()));
  auto sizes = x.sizes().vec();
  sizes.back() = out.size(1);
  return out.view(sizes);
}

LoraMethod::LoraMethod(LoraConfig c, std::optional<std::set<std::string>> modules)
    : c_(std::move(c)), modules_(std::move(modules)) {
  if (c_.base_dtype == DType::kFp16)  // the recipe check names the line; this guards the rest
    usage_error("method.lora.base_dtype: expected one of fp32, bf16, got 'fp16'");
}

bool LoraMethod::targets(const std::string& path) const {
  if (modules_) return modules_->count(path) > 0;
  return LoraTargets{c_.targets, "", c_.layers}.matches(path);
}

ModelBuilder LoraMethod::builder() {
  ModelBuilder b;
  const double scale = lora_scale(c_.alpha, c_.r, c_.rslora);
  // A bf16 base is built in bf16 (attach() would cast an fp32 one): loading a bf16
  // checkpoint then maps its tensors instead of copying them into fp32 first.
  const bool bf16 = c_.base_dtype == DType::kBf16;
  const auto base = bf16 ? torch::kBFloat16 : torch::kFloat;
  b.projection = [this, scale, bf16, base](const std::string& path, int64_t in, int64_t out,
                                           bool bias) -> Projection {
    if (targets(path))
      return std::make_shared<LoRALinearImpl>(in, out, c_.r, scale, c_.dropout, base, bias);
    const bool trained_head =
        path == "lm_head" && std::count(c_.modules_to_save.begin(), c_.modules_to_save.end(),
                                        std::string("lm_head")) > 0;
    if (bf16 && !trained_head) return std::make_shared<LinearImpl>(in, out, base, bias);
    return nullptr;
  };
  return b;
}

std::vector<std::string> LoraMethod::own_params(Transformer& model) {
  std::vector<std::string> names;
  for_each_lora(model, [&](const std::string& path, LoRALinearImpl&) {
    names.push_back(path + ".lora_A.weight");
    names.push_back(path + ".lora_B.weight");
  });
  return names;
}

void LoraMethod::attach(Transformer& model) {
  torch::NoGradGuard no_grad;
  for (auto& p : model->parameters()) p.requires_grad_(false);
  int64_t n = 0;
  for_each_lora(model, [&](const std::string&, LoRALinearImpl& l) {
    l.reset_lora(c_.init);
    l.lora_A->weight.requires_grad_(true);
    l.lora_B->weight.requires_grad_(true);
    ++n;
  });
  if (n == 0)
    usage_error(
        "method.lora.targets: no projection of this model matches (check targets and layers)");
  auto params = model->named_parameters();
  for (const auto& m : c_.modules_to_save) {
    const std::string key = m == "lm_head" ? "lm_head.weight" : "model." + m + ".weight";
    auto* p = params.find(key);
    if (!p)
      usage_error("method.lora.modules_to_save: the model has no '{}'{}", key,
                  m == "lm_head" ? " (tie_word_embeddings: the head is embed_tokens)" : "");
    p->requires_grad_(true);
  }
  if (c_.base_dtype == DType::kBf16) {
    for (auto& item : model->named_parameters()) {
      auto& p = item.value();
      // Frozen projection weights only: embeddings and norms stay in the activation dtype.
      if (p.requires_grad() || p.dim() != 2 || item.key().find("embed_tokens") != std::string::npos)
        continue;
      p.set_data(p.to(torch::kBFloat16));
      bf16_base_.insert(item.key());
    }
  }
}

NamedTensors LoraMethod::merged_weights(Transformer& model) {
  std::map<std::string, torch::Tensor> deltas;  // "<module>.weight" -> scale * B A
  for_each_lora(model, [&](const std::string& path, LoRALinearImpl& l) {
    deltas[path + ".weight"] = l.delta();
  });
  NamedTensors out;
  for (auto& [name, t] : model_state(*model)) {
    if (name.find(".lora_A.") != std::string::npos || name.find(".lora_B.") != std::string::npos)
      continue;
    auto d = deltas.find(name);
    torch::Tensor w = t.detach();
    if (d != deltas.end())
      w = w.to(torch::kFloat) + d->second;
    else if (bf16_base_.count(name))
      w = w.to(torch::kFloat);
    out.emplace_back(name, w);
  }
  return out;
}

void LoraMethod::export_adapter(Transformer& model, const std::string& dir,
                                const std::string& base_path) const {
  AdapterFileConfig c;
  c.peft_type = "LORA";
  c.base_model_name_or_path = base_path;
  c.r = c_.r;
  c.lora_alpha = c_.alpha;
  c.lora_dropout = c_.dropout;
  c.use_rslora = c_.rslora;
  c.modules_to_save = c_.modules_to_save;
  c.layers_to_transform = c_.layers;
  std::set<std::string> names;  // the targeted module names, in PEFT's list form
  NamedTensors tensors;
  for_each_lora(model, [&](const std::string& path, LoRALinearImpl& l) {
    names.insert(module_name(path));
    tensors.emplace_back(kPeftPrefix + path + ".lora_A.weight", l.lora_A->weight.detach());
    tensors.emplace_back(kPeftPrefix + path + ".lora_B.weight", l.lora_B->weight.detach());
  });
  c.target_modules.assign(names.begin(), names.end());
  for (const auto& m : c_.modules_to_save) {
    const std::string key = m == "lm_head" ? "lm_head.weight" : "model." + m + ".weight";
    tensors.emplace_back(kPeftPrefix + key, model->named_parameters()[key].detach());
  }
  write_adapter_config(dir, c);
  save_safetensors(dir + "/" + kAdapterWeightsFile, tensors);
}

void LoraMethod::load_adapter(Transformer& model, const std::string& dir) {
  LoraAdapter a = read_lora_adapter(dir);
  std::map<std::string, std::vector<int64_t>> shapes;
  for (const auto& [name, t] : model_state(*model))
    if (name.find(".lora_") == std::string::npos) shapes[name] = t.sizes().vec();
  check_lora_adapter(a, shapes, "the base model");
  torch::NoGradGuard no_grad;
  auto params = model->named_parameters();
  for (const auto& [path, m] : a.modules) {
    params[path + ".lora_A.weight"].copy_(m.A);
    params[path + ".lora_B.weight"].copy_(m.B);
  }
  for (const auto& [name, s] : a.saved) params[name].copy_(s.second);
}

}  // namespace ptune
