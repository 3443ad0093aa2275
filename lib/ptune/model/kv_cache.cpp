// The KV cache (see kv_cache.h).
#include "ptune/model/kv_cache.h"

#include <torch/torch.h>

#include "ptune/core/error.h"

namespace ptune {

LayerKV LayerKV::append(const torch::Tensor& new_k, const torch::Tensor& new_v) {
  if (k.defined()) {
    k = torch::cat({k, new_k}, 2);  // (B, KV, S + T, D)
    v = torch::cat({v, new_v}, 2);
  } else {
    k = new_k.contiguous();
    v = new_v.contiguous();
  }
  return *this;
}

void LayerKV::truncate(int64_t len) {
  if (len < 0 || len > length())
    runtime_error("KV cache: truncate to a length in [0, {}], got {}", length(), len);
  if (!k.defined()) return;
  k = k.narrow(2, 0, len);
  v = v.narrow(2, 0, len);
}

void KVCache::truncate(int64_t len) {
  if (len < 0 || len > length())
    runtime_error("KV cache: truncate to a length in [0, {}], got {}", length(), len);
  for (auto& layer : layers) layer.truncate(len);
}

}  // namespace ptune
