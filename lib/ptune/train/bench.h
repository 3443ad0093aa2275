// Training-step benchmark on random tokens: the same forward, loss, backward, clip and
// AdamW step as the trainer, timed after warmup. Numbers for scripts/bench.sh.
#pragma once

#include <cstdint>
#include <string>

#include "ptune/config/recipe.h"

namespace ptune {

struct BenchOptions {
  ModelConfig arch;  // vocab_size, hidden, layers, heads ...
  int64_t seq_len = 256;
  int64_t batch_size = 8;
  int64_t steps = 5;   // timed steps
  int64_t warmup = 2;  // untimed steps first
  int threads = 0;
  MethodConfig method;         // full | lora | ...
  PrecisionConfig precision;   // dtype fp32 | bf16 | fp16 (fp16: with the dynamic loss scaler)
  std::string device = "cpu";  // cpu | cuda | auto
  bool autocast = false;       // bf16 on CPU via LibTorch autocast instead of explicit casts
                               // (for comparison; the trainer uses explicit casts)
  std::string profile;         // non-empty: write a Chrome trace of the timed steps here
  int64_t loss_chunk = 1024;   // as train.loss_chunk
  int64_t activation_checkpointing = 0;  // as train.activation_checkpointing
};

struct BenchResult {
  double tokens_per_s = 0, ms_per_step = 0, gflops = 0;
  double ms_forward = 0, ms_backward = 0, ms_optimizer = 0;  // per step: forward + loss,
                                                             // backward, clip + optimizer step
  double peak_rss_mb = 0;                                    // ru_maxrss of this process
  int threads = 0;                                           // intra-op threads used
  int64_t params = 0, trainable = 0;
  int64_t skipped_steps = 0;  // fp16 overflow skips (of warmup + timed steps)
  double loss_scale = 0;      // fp16: the scale after the last step
};

BenchResult run_bench(const BenchOptions& o);

// Model FLOPs of one training step (Kaplan/PaLM: 6 N per token for full fine-tuning,
// 4 N when the base is frozen, plus attention's 12 L T d per token).
double train_step_flops(const ModelConfig& c, int64_t batch, int64_t seq, bool frozen_base);

}  // namespace ptune
