// How a Transformer is wired (torchtune's builders): which module each projection is, which
// modules run after a sublayer, and whether attention sees a key/value prefix. A fine-tuning
// method supplies the builder; the default is plain Linear everywhere and nothing else.
#pragma once

#include <torch/nn/module.h>

#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "ptune/config/model_config.h"
#include "ptune/model/kv_cache.h"
#include "ptune/model/projection.h"

namespace ptune {

// A module applied to a sublayer's output before the residual add (bottleneck adapters).
class SublayerHookImpl : public torch::nn::Module {
 public:
  virtual torch::Tensor forward(const torch::Tensor& x) = 0;  // (B, T, d) -> (B, T, d)
};
using SublayerHook = std::shared_ptr<SublayerHookImpl>;

// Sublayers a hook can follow.
enum class Sublayer { kAttention, kMlp };

// Makes the projection at HF module path `path` ("model.layers.3.self_attn.q_proj"), with a
// bias when `bias` (Qwen2's q/k/v).
using ProjectionFactory =
    std::function<Projection(const std::string& path, int64_t in, int64_t out, bool bias)>;
// The hook after `where` in the block at `block_path`, with the submodule name it is
// registered under (its checkpoint prefix); a null hook for none.
using SublayerHookFactory = std::function<std::pair<std::string, SublayerHook>(
    const std::string& block_path, Sublayer where, int64_t hidden)>;
// The model's key/value prefix with its submodule name; a null prefix for none.
using KVPrefixFactory = std::function<std::pair<std::string, KVPrefix>(const ModelConfig& c)>;

struct ModelBuilder {
  ProjectionFactory projection;       // empty (or returning nullptr) = LinearImpl
  SublayerHookFactory sublayer_hook;  // empty = none
  KVPrefixFactory kv_prefix;          // empty = none
};

// b.projection(path, in, out, bias), or a LinearImpl when the builder has none for `path`.
Projection make_projection(const ModelBuilder& b, const std::string& path, int64_t in, int64_t out,
                           bool bias = false);

}  // namespace ptune
