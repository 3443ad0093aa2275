// Projections y = x W^T (HF nn.Linear, bias=False). Attention and MLP receive theirs from
// the builder, which decides whether a projection is a plain Linear or, e.g., a LoRALinear:
// model code never branches on the fine-tuning method.
#pragma once

#include <torch/nn/module.h>
#include <torch/types.h>

#include <functional>
#include <memory>
#include <string>

namespace ptune {

// True where GEMMs in t's dtype are emulated: fp16 on CPU (LibTorch 1.13 has no Half GEMM),
// and bf16 on a CPU without native bf16 (cpu_info().native_bf16(); its bf16 GEMM is ATen's
// scalar single-thread loop there, ~20x slower than fp32). Emulated GEMMs multiply the
// low-precision values in fp32 and round the result once, as bf16/fp16 tensor cores and
// oneDNN's bf16 GEMM do: the same numerics as the native kernels, at fp32 GEMM speed.
bool emulates_gemm(const torch::Tensor& t);

// x @ w.T with ptune's precision rules: the native GEMM, or the emulated one above. The
// emulated GEMM saves x and w in their own (low) precision for the backward, whose two GEMMs
// are emulated too. Call it qualified, ptune::linear: ADL also finds at::linear for tensors.
torch::Tensor linear(const torch::Tensor& x, const torch::Tensor& w);

// True for fp16 on CPU, where LibTorch 1.13 lacks GEMM, softmax and some activation kernels
// (silu): those ops run in fp32 on the fp16 values and round back to fp16.
inline bool is_cpu_half(const torch::Tensor& t) {
  return t.scalar_type() == torch::kHalf && !t.is_cuda();
}

// SiLU with the CPU fp16 emulation rule above. bf16 on CPU also runs in fp32 and rounds
// once: ATen 1.13's CPU bf16 silu rounds intermediates (30% of its outputs differ from the
// correctly rounded value) and its backward is 3.6x slower than fp32's (measured).
torch::Tensor silu(const torch::Tensor& x);

// Inverted dropout (training) with the CPU fp16 emulation rule above: LibTorch 1.13 has no
// CPU Half bernoulli, so the mask and scaling run in fp32 and the result rounds to fp16 once.
torch::Tensor dropout(const torch::Tensor& x, double p);

class ProjectionImpl : public torch::nn::Module {
 public:
  virtual torch::Tensor forward(const torch::Tensor& x) = 0;  // (..., in) -> (..., out)
  virtual torch::Tensor base_weight() const = 0;              // (out, in)
};
using Projection = std::shared_ptr<ProjectionImpl>;

class LinearImpl : public ProjectionImpl {
 public:
  LinearImpl(int64_t in, int64_t out);
  torch::Tensor forward(const torch::Tensor& x) override { return ::ptune::linear(x, weight); }
  torch::Tensor base_weight() const override { return weight; }
  torch::Tensor weight;  // (out, in), HF name "weight"; init normal(0, 0.02) like HF LLaMA
};

// Makes the projection at HF module path `path` ("model.layers.3.self_attn.q_proj").
using ProjectionFactory =
    std::function<Projection(const std::string& path, int64_t in, int64_t out)>;

// A module applied to a sublayer's output before the residual add (bottleneck adapters).
class SublayerHookImpl : public torch::nn::Module {
 public:
  virtual torch::Tensor forward(const torch::Tensor& x) = 0;  // (B, T, d) -> (B, T, d)
};
using SublayerHook = std::shared_ptr<SublayerHookImpl>;

// `where` is "attn" or "mlp"; returns nullptr for no hook.
using SublayerHookFactory = std::function<SublayerHook(const std::string& block_path,
                                                       const std::string& where, int64_t hidden)>;

// How a Transformer is wired. Default: plain Linear everywhere, no hooks.
struct ModelBuilder {
  ProjectionFactory projection;       // empty (or returning nullptr) = LinearImpl
  SublayerHookFactory sublayer_hook;  // empty = none
};

// b.projection(path, in, out), or a LinearImpl(in, out) when the builder has none for `path`.
Projection make_projection(const ModelBuilder& b, const std::string& path, int64_t in, int64_t out);

}  // namespace ptune
