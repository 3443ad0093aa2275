// One pre-norm LLaMA decoder layer (HF LlamaDecoderLayer): h = x + attn(norm1(x)),
// out = h + mlp(norm2(h)), with the builder's optional hooks (bottleneck adapters) applied to
// each sublayer's output before its residual add.
#pragma once

#include <torch/nn/module.h>
#include <torch/types.h>

#include <string>

#include "ptune/config/model_config.h"
#include "ptune/model/attention.h"
#include "ptune/model/builder.h"
#include "ptune/model/mlp.h"
#include "ptune/model/rms_norm.h"

namespace ptune {

class BlockImpl : public torch::nn::Module {
 public:
  BlockImpl(const ModelConfig& c, const std::string& path, const ModelBuilder& b);
  // x: (B, T, d) -> (B, T, d). cos, sin, kv and doc_start as in Attention.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                        LayerKV* kv = nullptr, const torch::Tensor& doc_start = {});
  RMSNorm input_layernorm{nullptr}, post_attention_layernorm{nullptr};
  Attention self_attn{nullptr};
  MLP mlp{nullptr};
  SublayerHook attn_hook, mlp_hook;  // null without hooks
};
TORCH_MODULE(Block);

}  // namespace ptune
