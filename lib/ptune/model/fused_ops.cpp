// One-pass CPU kernels for RMSNorm and RoPE. As tensor ops, RMSNorm is ~5 passes over the
// activations forward and ~12 backward, RoPE ~5 each way, each with its own allocation; here
// each is one pass (two for the RMSNorm weight gradient). Forward values equal the tensor ops'
// (bf16: every intermediate rounded where HF rounds it); backward runs in fp32 and rounds once.
#include "ptune/model/fused_ops.h"

#include <ATen/Parallel.h>
#include <c10/util/BFloat16.h>
#include <torch/autograd.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "ptune/core/error.h"

namespace ptune {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Rows per parallel task: about 32K elements, as ATen's GRAIN_SIZE.
int64_t grain_rows(int64_t dim) { return std::max<int64_t>(1, 32768 / std::max<int64_t>(dim, 1)); }

// v rounded to T (a no-op for float), back in float.
template <typename T>
inline float round_to(float v) {
  return static_cast<float>(static_cast<T>(v));
}

bool fusable_dtype(torch::ScalarType t) { return t == torch::kFloat || t == torch::kBFloat16; }

// Calls f(T{}, W{}) with T = x's element type, W = the weight's (float or BFloat16).
template <typename F>
void dispatch2(torch::ScalarType x, torch::ScalarType w, F&& f) {
  const bool xf = x == torch::kFloat, wf = w == torch::kFloat;
  if (xf && wf) f(float{}, float{});
  else if (xf) f(float{}, c10::BFloat16{});
  else if (wf) f(c10::BFloat16{}, float{});
  else f(c10::BFloat16{}, c10::BFloat16{});
}

// ---- RMSNorm ------------------------------------------------------------------------------

// The weight as the tensor ops use it: cast to x's dtype, in float.
template <typename T, typename W>
std::vector<float> weight_as(const W* w, int64_t dim) {
  std::vector<float> out(dim);
  for (int64_t j = 0; j < dim; ++j) out[j] = round_to<T>(static_cast<float>(w[j]));
  return out;
}

// Sum of squares with 8 running partial sums (vectorises; more accurate than one sum).
template <typename T>
float sum_squares(const T* x, int64_t n) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t j = 0;
  for (; j + 8 <= n; j += 8)
    for (int k = 0; k < 8; ++k) {
      const float v = static_cast<float>(x[j + k]);
      acc[k] += v * v;
    }
  float s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
  for (; j < n; ++j) s += static_cast<float>(x[j]) * static_cast<float>(x[j]);
  return s;
}

// y = T(w * T(x * rstd)), rstd = 1 / sqrt(mean(x^2) + eps) per row.
template <typename T, typename W>
void rms_norm_forward_kernel(const T* x, const W* w, T* y, float* rstd, int64_t rows,
                             int64_t dim, float eps) {
  const std::vector<float> wv = weight_as<T>(w, dim);
  at::parallel_for(0, rows, grain_rows(dim), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const T* xr = x + r * dim;
      T* yr = y + r * dim;
      const float variance = sum_squares(xr, dim) / static_cast<float>(dim);
      const float rs = 1.0f / std::sqrt(variance + eps);
      rstd[r] = rs;
      for (int64_t j = 0; j < dim; ++j)
        yr[j] = static_cast<T>(wv[j] * round_to<T>(static_cast<float>(xr[j]) * rs));
    }
  });
}

// dx = rstd * (g - xhat * mean(g * xhat)), g = dy * w, xhat = x * rstd.
template <typename T, typename W>
void rms_norm_backward_x_kernel(const T* dy, const T* x, const W* w, const float* rstd, T* dx,
                                int64_t rows, int64_t dim) {
  const std::vector<float> wv = weight_as<T>(w, dim);
  at::parallel_for(0, rows, grain_rows(dim), [&](int64_t begin, int64_t end) {
    std::vector<float> g(dim);
    for (int64_t r = begin; r < end; ++r) {
      const T* dyr = dy + r * dim;
      const T* xr = x + r * dim;
      T* dxr = dx + r * dim;
      const float rs = rstd[r];
      float dot = 0;
      for (int64_t j = 0; j < dim; ++j) {
        g[j] = static_cast<float>(dyr[j]) * wv[j];
        dot += g[j] * static_cast<float>(xr[j]);
      }
      const float m = dot * rs / static_cast<float>(dim);  // mean(g * xhat)
      for (int64_t j = 0; j < dim; ++j) dxr[j] = static_cast<T>(rs * (g[j] - static_cast<float>(xr[j]) * rs * m));
    }
  });
}

// dw[j] = sum over rows of dy * T(x * rstd), parallel over blocks of columns.
template <typename T>
void rms_norm_backward_w_kernel(const T* dy, const T* x, const float* rstd, float* dw,
                                int64_t rows, int64_t dim) {
  constexpr int64_t kBlock = 64;
  at::parallel_for(0, (dim + kBlock - 1) / kBlock, 1, [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; ++b) {
      const int64_t c0 = b * kBlock, c1 = std::min(dim, c0 + kBlock);
      float acc[kBlock] = {};
      for (int64_t r = 0; r < rows; ++r) {
        const T* dyr = dy + r * dim;
        const T* xr = x + r * dim;
        const float rs = rstd[r];
        for (int64_t c = c0; c < c1; ++c)
          acc[c - c0] += static_cast<float>(dyr[c]) * round_to<T>(static_cast<float>(xr[c]) * rs);
      }
      std::copy(acc, acc + (c1 - c0), dw + c0);
    }
  });
}

struct RMSNormFunction : torch::autograd::Function<RMSNormFunction> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x_in,
                               const torch::Tensor& weight_in, double eps) {
    const torch::Tensor x = x_in.contiguous(), weight = weight_in.contiguous();
    const int64_t dim = x.size(-1), rows = x.numel() / std::max<int64_t>(dim, 1);
    auto y = torch::empty_like(x);
    auto rstd = torch::empty({rows}, x.options().dtype(torch::kFloat));
    dispatch2(x.scalar_type(), weight.scalar_type(), [&](auto t, auto w) {
      using T = decltype(t);
      using W = decltype(w);
      rms_norm_forward_kernel<T, W>(x.data_ptr<T>(), weight.data_ptr<W>(), y.data_ptr<T>(),
                                    rstd.data_ptr<float>(), rows, dim, static_cast<float>(eps));
    });
    ctx->save_for_backward({x, weight, rstd});
    return y;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const torch::Tensor &x = saved[0], &weight = saved[1], &rstd = saved[2];
    const torch::Tensor dy = grads[0].contiguous();
    const int64_t dim = x.size(-1), rows = x.numel() / std::max<int64_t>(dim, 1);
    torch::Tensor dx, dw;
    dispatch2(x.scalar_type(), weight.scalar_type(), [&](auto t, auto w) {
      using T = decltype(t);
      using W = decltype(w);
      if (ctx->needs_input_grad(0)) {
        dx = torch::empty_like(x);
        rms_norm_backward_x_kernel<T, W>(dy.data_ptr<T>(), x.data_ptr<T>(), weight.data_ptr<W>(),
                                         rstd.data_ptr<float>(), dx.data_ptr<T>(), rows, dim);
      }
      if (ctx->needs_input_grad(1)) {
        dw = torch::empty({dim}, x.options().dtype(torch::kFloat));
        rms_norm_backward_w_kernel<T>(dy.data_ptr<T>(), x.data_ptr<T>(), rstd.data_ptr<float>(),
                                      dw.data_ptr<float>(), rows, dim);
        dw = dw.to(weight.scalar_type());
      }
    });
    return {dx, dw, torch::Tensor()};
  }
};

// ---- RoPE ---------------------------------------------------------------------------------

// Strides of a (B, H, T, D) tensor whose last dimension is contiguous.
struct Strides4 {
  int64_t b, h, t;
  explicit Strides4(const torch::Tensor& x) : b(x.stride(0)), h(x.stride(1)), t(x.stride(2)) {}
  int64_t offset(int64_t row, int64_t H, int64_t T) const {  // row = (b * H + h) * T + t
    const int64_t ti = row % T, bh = row / T;
    return (bh / H) * b + (bh % H) * h + ti * t;
  }
};

// forward: out = T(T(x * c) + T(rotate_half(x) * s)), rotate_half(x) = cat(-x2, x1)
// backward: dx = dy * c + rotate_half^T(dy * s), rotate_half^T(y) = cat(y2, -y1), in float
template <typename T, bool kBackward>
void rope_kernel(const torch::Tensor& in, const torch::Tensor& cos, const torch::Tensor& sin,
                 torch::Tensor& out) {
  const int64_t H = in.size(1), T_ = in.size(2), D = in.size(3), half = D / 2;
  const Strides4 si(in), so(out);
  const T* x = in.data_ptr<T>();
  T* y = out.data_ptr<T>();
  const T* cs = cos.data_ptr<T>();
  const T* sn = sin.data_ptr<T>();
  at::parallel_for(0, in.size(0) * H * T_, grain_rows(D), [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) {
      const T* xr = x + si.offset(row, H, T_);
      T* yr = y + so.offset(row, H, T_);
      const T* c = cs + (row % T_) * D;
      const T* s = sn + (row % T_) * D;
      for (int64_t j = 0; j < D; ++j) {
        const float xc = static_cast<float>(xr[j]) * static_cast<float>(c[j]);
        if (kBackward) {
          const float other = j < half ? static_cast<float>(xr[j + half]) * static_cast<float>(s[j + half])
                                       : -(static_cast<float>(xr[j - half]) * static_cast<float>(s[j - half]));
          yr[j] = static_cast<T>(xc + other);
        } else {
          const float rot = j < half ? -static_cast<float>(xr[j + half]) : static_cast<float>(xr[j - half]);
          yr[j] = static_cast<T>(round_to<T>(xc) + round_to<T>(rot * static_cast<float>(s[j])));
        }
      }
    }
  });
}

template <bool kBackward>
torch::Tensor rope_pass(const torch::Tensor& x_in, const torch::Tensor& cos, const torch::Tensor& sin) {
  const torch::Tensor x = x_in.stride(3) == 1 ? x_in : x_in.contiguous();
  auto out = torch::empty_like(x);  // x's layout when x is dense, else contiguous
  if (out.stride(3) != 1) out = torch::empty(x.sizes(), x.options());
  if (x.scalar_type() == torch::kFloat) rope_kernel<float, kBackward>(x, cos, sin, out);
  else rope_kernel<c10::BFloat16, kBackward>(x, cos, sin, out);
  return out;
}

struct RopeFunction : torch::autograd::Function<RopeFunction> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x,
                               const torch::Tensor& cos_in, const torch::Tensor& sin_in) {
    const torch::Tensor cos = cos_in.contiguous(), sin = sin_in.contiguous();
    ctx->save_for_backward({cos, sin});
    return rope_pass<false>(x, cos, sin);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    return {rope_pass<true>(grads[0], saved[0], saved[1]), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor rms_norm_ops(const torch::Tensor& x, const torch::Tensor& weight, double eps) {
  // x: (..., dim)
  auto xf = x.to(torch::kFloat);
  auto variance = xf.pow(2).mean(-1, /*keepdim=*/true);  // (..., 1)
  auto normed = (xf * torch::rsqrt(variance + eps)).to(x.scalar_type());
  // An fp32 master weight is cast to x's dtype, so the output keeps x's dtype (HF casts the
  // module as a whole; with mixed precision only the compute copy is in the low dtype).
  return (weight.scalar_type() == x.scalar_type() ? weight : weight.to(x.scalar_type())) * normed;
}

torch::Tensor rms_norm(const torch::Tensor& x, const torch::Tensor& weight, double eps) {
  const bool fused = x.device().is_cpu() && weight.device().is_cpu() && fusable_dtype(x.scalar_type()) &&
                     fusable_dtype(weight.scalar_type()) && weight.dim() == 1 && x.dim() >= 1 &&
                     weight.size(0) == x.size(-1) && x.numel() > 0;
  return fused ? RMSNormFunction::apply(x, weight, eps) : rms_norm_ops(x, weight, eps);
}

torch::Tensor rope_ops(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin) {
  // x: (B, H, T, D); rotate_half(x) = cat(-x[..., D/2:], x[..., :D/2])
  const int64_t half = x.size(-1) / 2;
  auto rotated = torch::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
  return x * cos + rotated * sin;
}

torch::Tensor apply_rope(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin) {
  const bool fused = x.device().is_cpu() && fusable_dtype(x.scalar_type()) && x.dim() == 4 &&
                     x.numel() > 0 && x.size(3) % 2 == 0 && cos.scalar_type() == x.scalar_type() &&
                     sin.scalar_type() == x.scalar_type() && cos.dim() == 2 &&
                     cos.size(0) == x.size(2) && cos.size(1) == x.size(3) && sin.sizes() == cos.sizes() &&
                     !cos.requires_grad() && !sin.requires_grad();
  return fused ? RopeFunction::apply(x, cos, sin) : rope_ops(x, cos, sin);
}

}  // namespace ptune
