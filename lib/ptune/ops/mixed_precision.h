// ptune's precision rules for the ops whose LibTorch 1.13 CPU kernels are missing or slow in
// low precision: GEMMs (fp16 on CPU; bf16 on a CPU without native bf16), SiLU and dropout.
// Where the rule applies, the op multiplies or evaluates the fp16/bf16 values in fp32 and
// rounds the result once, as bf16/fp16 tensor cores and oneDNN's bf16 GEMM do: the same
// numerics as the native kernels, at fp32 speed. Named mixed_* so they never collide with
// ATen's linear/silu/dropout through argument-dependent lookup.
#pragma once

#include <torch/types.h>

namespace ptune {

// True where GEMMs in t's dtype are emulated: fp16 on CPU (LibTorch 1.13 has no Half GEMM),
// and bf16 on a CPU without native bf16 (cpu_info().native_bf16(); its bf16 GEMM is ATen's
// scalar single-thread loop there, ~20x slower than fp32).
bool emulates_gemm(const torch::Tensor& t);

// True for fp16 on CPU, where LibTorch 1.13 lacks GEMM, softmax and some activation kernels
// (silu): those ops run in fp32 on the fp16 values and round back to fp16.
inline bool is_cpu_half(const torch::Tensor& t) {
  return t.scalar_type() == torch::kHalf && !t.is_cuda();
}

// x (..., in) @ w (out, in)^T -> (..., out). w is cast to x's dtype when they differ (fp32
// master weights under a bf16/fp16 compute dtype, or a frozen bf16 base under fp32
// activations); the cast is differentiable, so w's own dtype receives its gradient. The
// emulated GEMM saves x and w in their own (low) precision for the backward, whose two GEMMs
// are emulated too. A frozen w of another dtype is kept for the backward as it is stored and
// cast again there: the graph holds no upcast copy of a frozen base.
torch::Tensor mixed_linear(const torch::Tensor& x, const torch::Tensor& w);

// a (M, K) @ b (K, N) in a's dtype by the same rule, without an autograd function of its
// own: for hand-written backwards (the chunked LM loss) and the frozen-weight linear.
torch::Tensor mixed_mm(const torch::Tensor& a, const torch::Tensor& b);

// SiLU; on CPU, fp16 and bf16 run in fp32 and round once: ATen 1.13's CPU bf16 silu rounds
// intermediates (30% of its outputs differ from the correctly rounded value) and its backward
// is 3.6x slower than fp32's.
torch::Tensor mixed_silu(const torch::Tensor& x);

// Inverted dropout (training). LibTorch 1.13 has no CPU Half bernoulli: for fp16 on CPU the
// mask and scaling run in fp32 and the result rounds to fp16 once.
torch::Tensor mixed_dropout(const torch::Tensor& x, double p);

}  // namespace ptune
