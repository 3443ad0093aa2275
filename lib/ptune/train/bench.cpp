// Benchmark loop.
#include "ptune/train/bench.h"

#include <sys/resource.h>
#include <torch/nn/utils/clip_grad.h>

#include <chrono>

#include "ptune/core/context.h"
#include "ptune/peft/method.h"
#include "ptune/train/optimizer.h"

namespace ptune {

double train_step_flops(const ModelConfig& c, int64_t batch, int64_t seq, bool frozen_base) {
  const double d = c.hidden_size, L = c.num_hidden_layers, hd = c.resolved_head_dim();
  const double kv = c.num_key_value_heads * hd;
  const double per_layer = d * (d + 2 * kv) + d * d + 3 * d * c.intermediate_size;
  const double n = L * per_layer + d * c.vocab_size;  // matmul params (head included)
  const double tokens = static_cast<double>(batch) * seq;
  const double attn = 12.0 * L * seq * d / 2.0;      // causal: half the score matrix
  return tokens * ((frozen_base ? 4.0 : 6.0) * n + attn);
}

BenchResult run_bench(const BenchOptions& o) {
  using Clock = std::chrono::steady_clock;
  apply_threads(o.threads);
  torch::manual_seed(0);
  auto method = make_method(o.method, o.arch);
  Transformer model(o.arch, method->builder());
  method->attach(model);
  NamedTensors params = method->trainable(model);
  OptimConfig oc;
  auto opt = make_adamw(oc, params);
  std::vector<torch::Tensor> tensors;
  for (auto& [_, p] : params) tensors.push_back(p);

  auto ids = torch::randint(o.arch.vocab_size, {o.batch_size, o.seq_len + 1}, torch::kInt64);
  auto input = ids.slice(1, 0, o.seq_len).contiguous();
  auto targets = ids.slice(1, 1, o.seq_len + 1).contiguous();
  auto step = [&] {
    for (auto& p : tensors) p.mutable_grad().reset();
    auto logits = model->forward(input, method->forward_args(o.batch_size));
    auto loss = lm_loss(logits, targets);
    loss.backward();
    torch::nn::utils::clip_grad_norm_(tensors, 1.0);
    opt->step();
  };
  for (int64_t i = 0; i < o.warmup; ++i) step();
  const auto t0 = Clock::now();
  for (int64_t i = 0; i < o.steps; ++i) step();
  const double s = std::chrono::duration<double>(Clock::now() - t0).count() / o.steps;

  BenchResult r;
  r.ms_per_step = s * 1e3;
  r.tokens_per_s = o.batch_size * o.seq_len / s;
  r.gflops = train_step_flops(o.arch, o.batch_size, o.seq_len, method->is_peft()) / s / 1e9;
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  r.peak_rss_mb = ru.ru_maxrss / 1024.0;
  for (auto& p : model->parameters()) {
    r.params += p.numel();
    if (p.requires_grad()) r.trainable += p.numel();
  }
  return r;
}

}  // namespace ptune
