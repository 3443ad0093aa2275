// Benchmark loop.
#include "ptune/train/bench.h"

#include <ATen/autocast_mode.h>
#include <torch/csrc/autograd/profiler_legacy.h>
#include <torch/nn/utils/clip_grad.h>

#include <algorithm>
#include <chrono>
#include <memory>

#include "ptune/config/size_limits.h"
#include "ptune/core/autocast.h"
#include "ptune/core/context.h"
#include "ptune/core/error.h"
#include "ptune/load/memory_estimate.h"
#include "ptune/model/loss.h"
#include "ptune/model/pretrained.h"
#include "ptune/peft/method.h"
#include "ptune/precision/precision.h"
#include "ptune/train/metrics.h"
#include "ptune/train/optimizer.h"

namespace ptune {

double train_step_flops(const ModelConfig& c, int64_t batch, int64_t seq, bool frozen_base) {
  const double d = c.hidden_size, L = c.num_hidden_layers, hd = c.resolved_head_dim();
  const double kv = c.num_key_value_heads * hd;
  const double per_layer = d * (d + 2 * kv) + d * d + 3 * d * c.intermediate_size;
  const double n = L * per_layer + d * c.vocab_size;  // matmul params (head included)
  const double tokens = static_cast<double>(batch) * seq;
  const double attn = 12.0 * L * seq * d / 2.0;  // causal: half the score matrix
  return tokens * ((frozen_base ? 4.0 : 6.0) * n + attn);
}

BenchResult run_bench(const BenchOptions& o) {
  using Clock = std::chrono::steady_clock;
  validate(o.arch);
  if (o.steps <= 0) usage_error("bench: --steps must be > 0, got {}", o.steps);
  if (o.warmup < 0) usage_error("bench: --warmup must be >= 0, got {}", o.warmup);
  if (o.batch_size <= 0) usage_error("bench: --batch must be > 0, got {}", o.batch_size);
  if (o.seq_len <= 0 || o.seq_len > kMaxPositions)
    usage_error("bench: --seq must be in [1, {}], got {}; {}", kMaxPositions, o.seq_len,
                kMaxPositionsWhy);
  if (o.batch_size > kMaxGemmDim / o.seq_len)
    usage_error(
        "bench: --batch must be <= {}, got {}; --batch * --seq ({}) tokens are the rows of every "
        "projection's GEMM, which BLAS counts in a 32-bit int",
        kMaxGemmDim / o.seq_len, o.batch_size, o.seq_len);
  const RunContext ctx = RunContext::start(o.threads, o.device, /*seed=*/0);
  const torch::Device device = ctx.device;
  check_memory(training_memory(o.arch, o.method, MtpConfig(), o.batch_size, o.seq_len, 1,
                               o.precision.dtype, o.loss_chunk, o.activation_checkpointing),
               device, "bench", "lower --batch, --seq or the model's sizes");
  auto method = make_method(o.method, o.arch);
  Transformer model(o.arch, method->builder());
  method->attach(model);
  model->to(device);
  model->set_activation_checkpointing(o.activation_checkpointing);
  NamedTensors params = method->trainable(model);
  PrecisionPolicy policy = make_precision_policy(o.precision);
  if (o.autocast) {
    if (policy.compute != torch::kBFloat16 || device.is_cuda())
      usage_error("bench --autocast: only for --dtype bf16 on cpu, got --dtype {} on {}",
                  name_of(o.precision.dtype), o.device);
    policy.compute = torch::kFloat;  // autocast casts the GEMM inputs itself
  }
  apply_precision(policy, model, params);
  auto scaler = make_loss_scaler(o.precision);
  OptimConfig oc;
  auto opt = make_adamw(oc, params);
  std::vector<torch::Tensor> tensors;
  for (auto& [_, p] : params) tensors.push_back(p);

  auto ids =
      torch::randint(o.arch.vocab_size, {o.batch_size, o.seq_len + 1}, torch::kInt64).to(device);
  auto input = ids.slice(1, 0, o.seq_len).contiguous();
  auto targets = ids.slice(1, 1, o.seq_len + 1).contiguous();
  double phase_s[3] = {0, 0, 0};  // forward + loss, backward, clip + optimizer (CPU timing)
  auto step = [&] {
    // Autocast caches the bf16 copies of leaf weights; they are stale after opt->step().
    if (o.autocast) at::autocast::clear_cache();
    for (auto& p : tensors) p.mutable_grad().reset();
    const auto t0 = Clock::now();
    auto loss = model->loss_sum(model->hidden(input), targets, o.loss_chunk) /
                static_cast<double>(targets.numel());
    const auto t1 = Clock::now();
    (scaler ? scaler->scale(loss) : loss).backward();
    const auto t2 = Clock::now();
    clip_and_step(*opt, tensors, 1.0, scaler.get());
    if (device.is_cuda()) loss.item<float>();  // wait for the step's kernels before timing
    const auto t3 = Clock::now();
    phase_s[0] += std::chrono::duration<double>(t1 - t0).count();
    phase_s[1] += std::chrono::duration<double>(t2 - t1).count();
    phase_s[2] += std::chrono::duration<double>(t3 - t2).count();
  };
  // Thread-local autocast state, set only for this benchmark and restored below.
  const bool autocast_was = cpu_autocast_enabled();
  const auto autocast_dtype_was = cpu_autocast_dtype();
  if (o.autocast) set_cpu_autocast(true, torch::kBFloat16);
  for (int64_t i = 0; i < o.warmup; ++i) step();
  std::fill(std::begin(phase_s), std::end(phase_s), 0.0);
  double s = 0;
  {
    // The profiler's overhead is in the timing too: profile and measure in separate runs.
    std::unique_ptr<torch::autograd::profiler::RecordProfile> profiler;
    if (!o.profile.empty())
      profiler = std::make_unique<torch::autograd::profiler::RecordProfile>(o.profile);
    const auto t0 = Clock::now();
    for (int64_t i = 0; i < o.steps; ++i) step();
    s = std::chrono::duration<double>(Clock::now() - t0).count() / o.steps;
  }
  set_cpu_autocast(autocast_was, autocast_dtype_was);
  at::autocast::clear_cache();

  BenchResult r;
  if (scaler) r.skipped_steps = scaler->skipped_steps(), r.loss_scale = scaler->loss_scale();
  r.threads = ctx.threads;
  r.ms_per_step = s * 1e3;
  r.ms_forward = phase_s[0] * 1e3 / o.steps;
  r.ms_backward = phase_s[1] * 1e3 / o.steps;
  r.ms_optimizer = phase_s[2] * 1e3 / o.steps;
  r.tokens_per_s = o.batch_size * o.seq_len / s;
  r.gflops = train_step_flops(o.arch, o.batch_size, o.seq_len, method->is_peft()) / s / 1e9;
  r.peak_rss_mb = peak_rss_mb();
  const ParamCounts n = count_params(*model);
  r.params = n.total;
  r.trainable = n.trainable;
  return r;
}

}  // namespace ptune
