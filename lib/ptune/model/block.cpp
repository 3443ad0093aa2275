// One pre-norm LLaMA decoder layer (HF LlamaDecoderLayer), with optional sublayer hooks
// (bottleneck adapters) applied to each sublayer's output before its residual add.
#include <torch/torch.h>

#include "ptune/model/transformer.h"

namespace ptune {

BlockImpl::BlockImpl(const ModelConfig& c, const std::string& path, const ModelBuilder& b) {
  // Registration order = HF state_dict order: self_attn, mlp, input_layernorm, post_...
  self_attn = register_module("self_attn", Attention(c, path + ".self_attn", b));
  mlp = register_module("mlp", MLP(c, path + ".mlp", b));
  input_layernorm = register_module("input_layernorm", RMSNorm(c.hidden_size, c.rms_norm_eps));
  post_attention_layernorm =
      register_module("post_attention_layernorm", RMSNorm(c.hidden_size, c.rms_norm_eps));
  if (b.sublayer_hook) {
    attn_hook = b.sublayer_hook(path, "attn", c.hidden_size);
    if (attn_hook) register_module("attn_adapter", attn_hook);
    mlp_hook = b.sublayer_hook(path, "mlp", c.hidden_size);
    if (mlp_hook) register_module("mlp_adapter", mlp_hook);
  }
}

torch::Tensor BlockImpl::forward(const torch::Tensor& x, const torch::Tensor& cos,
                                 const torch::Tensor& sin, int64_t layer, const ForwardArgs& args,
                                 const torch::Tensor& mask) {
  // x: (B, T, d)
  auto a = self_attn->forward(input_layernorm->forward(x), cos, sin, layer, args, mask);
  if (attn_hook) a = attn_hook->forward(a);
  auto h = x + a;
  auto m = mlp->forward(post_attention_layernorm->forward(h));
  if (mlp_hook) m = mlp_hook->forward(m);
  return h + m;
}

}  // namespace ptune
