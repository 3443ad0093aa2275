// Keys and values that attention sees before the new tokens: the per-layer KV cache of
// incremental decoding, and a key/value prefix visible to every query (prefix tuning's virtual
// tokens, PEFT's past_key_values semantics: prefix keys are not rotated, and the sequence's
// own positions start after them). The model seeds an empty cache with the prefix.
#pragma once

#include <torch/nn/module.h>
#include <torch/types.h>

#include <memory>
#include <vector>

namespace ptune {

// One layer's keys and values, (B, n_kv_heads, S, head_dim) each.
struct LayerKV {
  torch::Tensor k, v;
  int64_t length() const { return k.defined() ? k.size(2) : 0; }
  // Appends (B, n_kv_heads, T, head_dim) keys and values; returns all of them.
  LayerKV append(const torch::Tensor& new_k, const torch::Tensor& new_v);
  void truncate(int64_t len);  // drop positions >= len
};

// Per-layer K/V cache. Its length is the number of keys before the next new token, and the
// RoPE position of that token unless the caller says otherwise.
struct KVCache {
  std::vector<LayerKV> layers;
  int64_t length() const { return layers.empty() ? 0 : layers[0].length(); }
  void truncate(int64_t len);  // drop positions >= len (speculative decoding rollback)
};

// A key/value prefix: per-layer (1, n_kv_heads, P, head_dim) keys and values, recomputed at
// each forward from the module's parameters (gradients flow into them).
class KVPrefixImpl : public torch::nn::Module {
 public:
  virtual std::vector<LayerKV> forward() = 0;
};
using KVPrefix = std::shared_ptr<KVPrefixImpl>;

}  // namespace ptune
