// The precision-rule ops (see mixed_precision.h).
#include "ptune/ops/mixed_precision.h"

#include <torch/torch.h>

#include "ptune/core/cpu.h"

namespace ptune {

namespace {

using torch::Tensor;

// x (N, in) @ w (out, in)^T in fp32 from low-precision values; the result and both gradients
// rounded once to the inputs' dtypes.
struct EmulatedLinear : torch::autograd::Function<EmulatedLinear> {
  static Tensor forward(torch::autograd::AutogradContext* ctx, const Tensor& x, const Tensor& w) {
    ctx->save_for_backward({x, w});
    return torch::mm(x.to(torch::kFloat), w.to(torch::kFloat).t()).to(x.scalar_type());
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const Tensor &x = saved[0], &w = saved[1];
    const Tensor g = grads[0].to(torch::kFloat);  // (N, out)
    Tensor dx, dw;
    if (ctx->needs_input_grad(0)) dx = torch::mm(g, w.to(torch::kFloat)).to(x.scalar_type());
    if (ctx->needs_input_grad(1)) dw = torch::mm(g.t(), x.to(torch::kFloat)).to(w.scalar_type());
    return {dx, dw};
  }
};

// x (N, in) @ w (out, in)^T for a frozen w stored in another dtype than x (a bf16 base under
// fp32 activations, an fp32 base under bf16 ones): w is cast to x's dtype in the forward and
// again in the backward, so the graph keeps w itself rather than a cast copy (for a bf16 base
// under fp32 compute, twice its size), and keeps no x (w gets no gradient).
struct FrozenCastLinear : torch::autograd::Function<FrozenCastLinear> {
  static Tensor forward(torch::autograd::AutogradContext* ctx, const Tensor& x, const Tensor& w) {
    ctx->save_for_backward({w});
    ctx->saved_data["dtype"] = static_cast<int64_t>(x.scalar_type());
    return mixed_mm(x, w.to(x.scalar_type()).t());
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto dtype = static_cast<torch::ScalarType>(ctx->saved_data["dtype"].toInt());
    const Tensor w = ctx->get_saved_variables()[0].to(dtype);  // (out, in)
    return {mixed_mm(grads[0].to(dtype), w), Tensor()};
  }
};

}  // namespace

bool emulates_gemm(const Tensor& t) {
  if (t.is_cuda()) return false;
  if (t.scalar_type() == torch::kHalf) return true;
  return t.scalar_type() == torch::kBFloat16 && !cpu_info().native_bf16();
}

Tensor mixed_mm(const Tensor& a, const Tensor& b) {
  if (!emulates_gemm(a)) return torch::mm(a, b);
  return torch::mm(a.to(torch::kFloat), b.to(torch::kFloat)).to(a.scalar_type());
}

Tensor mixed_linear(const Tensor& x, const Tensor& w) {
  if (w.scalar_type() != x.scalar_type() && !w.requires_grad() && x.requires_grad() &&
      torch::GradMode::is_enabled()) {
    if (x.dim() == 2) return FrozenCastLinear::apply(x, w);  // a plain result: LoRA adds into it
    auto sizes = x.sizes().vec();
    sizes.back() = w.size(0);
    return FrozenCastLinear::apply(x.reshape({-1, x.size(-1)}), w).view(sizes);
  }
  const Tensor wc = w.scalar_type() == x.scalar_type() ? w : w.to(x.scalar_type());
  if (!emulates_gemm(x)) return torch::matmul(x, wc.t());
  auto sizes = x.sizes().vec();
  sizes.back() = w.size(0);
  return EmulatedLinear::apply(x.reshape({-1, x.size(-1)}), wc).view(sizes);
}

Tensor mixed_silu(const Tensor& x) {
  const bool cpu_low =
      !x.is_cuda() && (x.scalar_type() == torch::kHalf || x.scalar_type() == torch::kBFloat16);
  return cpu_low ? torch::silu(x.to(torch::kFloat)).to(x.scalar_type()) : torch::silu(x);
}

Tensor mixed_dropout(const Tensor& x, double p) {
  return is_cpu_half(x) ? torch::dropout(x.to(torch::kFloat), p, /*train=*/true).to(x.scalar_type())
                        : torch::dropout(x, p, /*train=*/true);
}

}  // namespace ptune
