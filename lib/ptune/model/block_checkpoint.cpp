// Activation checkpointing of a decoder block (see block_checkpoint.h).
#include "ptune/model/block_checkpoint.h"

#include <ATen/Context.h>
#include <torch/autograd.h>
#include <torch/torch.h>

#include <mutex>
#include <vector>

#include "ptune/core/autocast.h"

namespace ptune {

namespace {

using torch::Tensor;

// The state of the default generator of `device` (dropout's masks come from it), and setting it.
Tensor rng_state(const c10::Device& device) {
  auto gen = at::globalContext().defaultGenerator(device);
  std::lock_guard<std::mutex> lock(gen.mutex());
  return gen.get_state();
}
void set_rng_state(const c10::Device& device, const Tensor& state) {
  auto gen = at::globalContext().defaultGenerator(device);
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_state(state);
}

struct Inputs {
  BlockImpl* block;
  const Tensor *cos, *sin, *doc_start;
};

struct CheckpointFunction : torch::autograd::Function<CheckpointFunction> {
  // `anchor` requires grad so that the backward runs even when neither x nor the prefix does
  // (LoRA's first block: a frozen embedding's output); the block's parameters get their
  // gradients from the recompute's own backward.
  static Tensor forward(torch::autograd::AutogradContext* ctx, const Tensor& x,
                        const Tensor& anchor, const c10::optional<Tensor>& prefix_k,
                        const c10::optional<Tensor>& prefix_v, const Inputs* in) {
    ctx->saved_data["rng"] = rng_state(x.device());
    ctx->saved_data["cos"] = *in->cos;
    ctx->saved_data["sin"] = *in->sin;
    if (in->doc_start->defined()) ctx->saved_data["doc_start"] = *in->doc_start;
    ctx->saved_data["block"] = reinterpret_cast<int64_t>(in->block);
    // Autocast (bench --autocast) is thread-local state: the recompute runs under the same.
    ctx->saved_data["autocast"] = cpu_autocast_enabled();
    ctx->saved_data["autocast_dtype"] = static_cast<int64_t>(cpu_autocast_dtype());
    const bool has_prefix = prefix_k.has_value();
    ctx->saved_data["prefix"] = has_prefix;
    std::vector<Tensor> saved{x};
    if (has_prefix) {
      saved.push_back(*prefix_k);
      saved.push_back(*prefix_v);
    }
    ctx->save_for_backward(saved);
    (void)anchor;
    LayerKV kv;
    if (has_prefix) kv = {*prefix_k, *prefix_v};
    return in->block->forward(x, *in->cos, *in->sin, has_prefix ? &kv : nullptr, *in->doc_start);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const bool has_prefix = ctx->saved_data["prefix"].toBool();
    auto* block = reinterpret_cast<BlockImpl*>(ctx->saved_data["block"].toInt());
    const Tensor cos = ctx->saved_data["cos"].toTensor(), sin = ctx->saved_data["sin"].toTensor();
    Tensor doc_start;
    if (ctx->saved_data.count("doc_start")) doc_start = ctx->saved_data["doc_start"].toTensor();
    auto leaf = [](const Tensor& t) { return t.detach().requires_grad_(t.requires_grad()); };
    Tensor x = leaf(saved[0]), pk, pv;
    if (has_prefix) {
      pk = leaf(saved[1]);
      pv = leaf(saved[2]);
    }
    const Tensor rng_now = rng_state(x.device());
    const bool autocast_now = cpu_autocast_enabled();
    const auto autocast_dtype_now = cpu_autocast_dtype();
    set_rng_state(x.device(), ctx->saved_data["rng"].toTensor());
    set_cpu_autocast(ctx->saved_data["autocast"].toBool(),
                     static_cast<c10::ScalarType>(ctx->saved_data["autocast_dtype"].toInt()));
    Tensor out;
    {
      torch::AutoGradMode grad_on(true);
      LayerKV kv;
      if (has_prefix) kv = {pk, pv};
      out = block->forward(x, cos, sin, has_prefix ? &kv : nullptr, doc_start);
    }
    set_cpu_autocast(autocast_now, autocast_dtype_now);
    set_rng_state(x.device(), rng_now);
    if (out.requires_grad()) torch::autograd::backward({out}, {grads[0]});
    auto grad_of = [](const Tensor& t) {
      return t.defined() && t.requires_grad() ? t.grad() : Tensor();
    };
    return {grad_of(x), Tensor(), grad_of(pk), grad_of(pv), Tensor()};
  }
};

}  // namespace

Tensor checkpointed_block(Block& block, const Tensor& x, const Tensor& cos, const Tensor& sin,
                          const LayerKV* prefix, const Tensor& doc_start) {
  static const Tensor anchor = torch::zeros({}, torch::kFloat).requires_grad_(true);
  const Inputs in{block.get(), &cos, &sin, &doc_start};
  c10::optional<Tensor> pk, pv;
  if (prefix && prefix->k.defined()) {
    pk = prefix->k;
    pv = prefix->v;
  }
  return CheckpointFunction::apply(x, anchor, pk, pv, &in);
}

}  // namespace ptune
