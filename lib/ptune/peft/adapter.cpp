// Bottleneck adapters and their method. On disk (ptune layout, docs/peft.md):
// adapter_config.json with peft_type PTUNE_BOTTLENECK and adapter_model.safetensors with
// keys base_model.model.<parameter name>, as PEFT prefixes its own keys.
#include "ptune/peft/adapter.h"

#include <torch/torch.h>

#include <cmath>

#include "ptune/core/error.h"
#include "ptune/io/adapter_config.h"
#include "ptune/io/checkpoint.h"
#include "ptune/model/projection.h"
#include "ptune/ops/mixed_precision.h"
#include "ptune/peft/lora_file.h"

namespace ptune {

namespace {

bool is_adapter_param(const std::string& name) {
  return name.find("_adapter.") != std::string::npos;
}

torch::Tensor activate(const torch::Tensor& x, const std::string& kind) {
  if (is_cpu_half(x)) return activate(x.to(torch::kFloat), kind).to(torch::kHalf);
  if (kind == "relu") return torch::relu(x);
  if (kind == "gelu") return torch::gelu(x);
  if (kind == "tanh") return torch::tanh(x);
  return torch::silu(x);
}

}  // namespace

BottleneckImpl::BottleneckImpl(int64_t hidden, const AdapterConfig& c)
    : activation(c.activation), dropout(c.dropout) {
  // "down" and "up" are plain modules holding weight and bias: names read down.weight, up.bias.
  auto down = register_module("down", std::make_shared<torch::nn::Module>());
  auto up = register_module("up", std::make_shared<torch::nn::Module>());
  down_weight = down->register_parameter("weight", torch::empty({c.bottleneck, hidden}));
  down_bias = down->register_parameter("bias", torch::empty({c.bottleneck}));
  up_weight = up->register_parameter("weight", torch::empty({hidden, c.bottleneck}));
  up_bias = up->register_parameter("bias", torch::empty({hidden}));
  reset();
}

void BottleneckImpl::reset() {
  torch::NoGradGuard no_grad;
  torch::nn::init::kaiming_uniform_(down_weight, std::sqrt(5.0));  // as nn.Linear
  const double bound = 1.0 / std::sqrt(static_cast<double>(down_weight.size(1)));
  down_bias.uniform_(-bound, bound);
  up_weight.zero_();
  up_bias.zero_();
}

torch::Tensor BottleneckImpl::forward(const torch::Tensor& x) {
  auto h = mixed_linear(x, down_weight) + down_bias.to(x.scalar_type());  // (B, T, bottleneck)
  h = activate(h, activation);
  if (dropout > 0 && is_training()) h = mixed_dropout(h, dropout);
  return x + mixed_linear(h, up_weight) + up_bias.to(x.scalar_type());  // (B, T, d)
}

ModelBuilder AdapterMethod::builder() {
  ModelBuilder b;
  b.sublayer_hook = [this](const std::string&, Sublayer where,
                           int64_t hidden) -> std::pair<std::string, SublayerHook> {
    // placement names the sublayers ("attn", "mlp"); the modules are "<name>_adapter".
    const std::string name = where == Sublayer::kAttention ? "attn" : "mlp";
    if (std::find(c_.placement.begin(), c_.placement.end(), name) == c_.placement.end()) return {};
    return {name + "_adapter", std::make_shared<BottleneckImpl>(hidden, c_)};
  };
  return b;
}

std::vector<std::string> AdapterMethod::own_params(Transformer& model) {
  std::vector<std::string> names;
  for (const auto& p : model->named_parameters())
    if (is_adapter_param(p.key())) names.push_back(p.key());
  return names;
}

void AdapterMethod::attach(Transformer& model) {
  for (auto& p : model->named_parameters()) p.value().requires_grad_(is_adapter_param(p.key()));
  for (auto& m : model->modules())
    if (auto b = std::dynamic_pointer_cast<BottleneckImpl>(m)) b->reset();
}

void AdapterMethod::export_adapter(Transformer& model, const std::string& dir,
                                   const std::string& base_path) const {
  AdapterFileConfig c;
  c.peft_type = "PTUNE_BOTTLENECK";
  c.base_model_name_or_path = base_path;
  c.bottleneck = c_.bottleneck;
  c.placement = c_.placement;
  c.activation = c_.activation;
  c.dropout = c_.dropout;
  c.hidden_size = model->config().hidden_size;
  NamedTensors tensors;
  for (const auto& p : model->named_parameters())
    if (is_adapter_param(p.key())) tensors.emplace_back(kPeftPrefix + p.key(), p.value().detach());
  write_adapter_config(dir, c);
  save_safetensors(dir + "/" + kAdapterWeightsFile, tensors);
}

void AdapterMethod::load_adapter(Transformer& model, const std::string& dir) {
  const std::string file = dir + "/" + kAdapterWeightsFile;
  auto st = SafetensorsFile::open(file);
  auto params = model->named_parameters();
  torch::NoGradGuard no_grad;
  for (const auto& name : own_params(model)) {
    const std::string key = kPeftPrefix + name;
    if (!st->contains(key)) usage_error("{}: adapter is missing key '{}'", file, key);
    auto t = st->tensor(key);
    if (t.sizes() != params[name].sizes())
      usage_error("{}: adapter key '{}' has shape {}; the model expects {}", file, key,
                  c10::str(t.sizes()), c10::str(params[name].sizes()));
    params[name].copy_(t);
  }
  for (const auto& info : st->tensors())
    if (!params.contains(info.name.substr(std::min(info.name.size(), kPeftPrefix.size()))))
      usage_error("{}: adapter key '{}' matches no adapter parameter of the model (placement {})",
                  file, info.name, fmt::format("{}", fmt::join(c_.placement, ", ")));
}

}  // namespace ptune
