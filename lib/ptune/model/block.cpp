// One pre-norm LLaMA decoder layer (see block.h).
#include "ptune/model/block.h"

#include <torch/torch.h>

namespace ptune {

BlockImpl::BlockImpl(const ModelConfig& c, const std::string& path, const ModelBuilder& b) {
  // Registration order = HF state_dict order: self_attn, mlp, input_layernorm, post_...
  self_attn = register_module("self_attn", Attention(c, path + ".self_attn", b));
  mlp = register_module("mlp", MLP(c, path + ".mlp", b));
  input_layernorm = register_module("input_layernorm", RMSNorm(c.hidden_size, c.rms_norm_eps));
  post_attention_layernorm =
      register_module("post_attention_layernorm", RMSNorm(c.hidden_size, c.rms_norm_eps));
  if (!b.sublayer_hook) return;
  for (auto [where, hook] :
       {std::pair{Sublayer::kAttention, &attn_hook}, std::pair{Sublayer::kMlp, &mlp_hook}}) {
    auto [name, module] = b.sublayer_hook(path, where, c.hidden_size);
    if (module) *hook = register_module(name, module);
  }
}

torch::Tensor BlockImpl::forward(const torch::Tensor& x, const torch::Tensor& cos,
                                 const torch::Tensor& sin, LayerKV* kv,
                                 const torch::Tensor& doc_start) {
  // x: (B, T, d)
  auto a = self_attn->forward(input_layernorm->forward(x), cos, sin, kv, doc_start);
  if (attn_hook) a = attn_hook->forward(a);
  auto h = x + a;
  auto m = mlp->forward(post_attention_layernorm->forward(h));
  if (mlp_hook) m = mlp_hook->forward(m);
  return h + m;
}

}  // namespace ptune
