// ptune bench: time training steps of a model shape on random tokens; one JSON line out.
#include <iostream>

#include "commands.h"
#include "ptune/core/cpu.h"
#include "ptune/train/bench.h"
#include "ptune/train/metrics.h"

namespace ptune::cli {

void add_bench(CLI::App& app, const GlobalOptions& g) {
  auto o = std::make_shared<BenchOptions>();
  auto* cmd =
      app.add_subcommand("bench", "benchmark training steps of a model shape (JSON on stdout)");
  o->arch.vocab_size = 4096;
  o->arch.hidden_size = 256;
  o->arch.intermediate_size = 688;
  o->arch.num_hidden_layers = 4;
  o->arch.num_attention_heads = 8;
  o->arch.num_key_value_heads = 0;
  o->arch.max_position_embeddings = 0;
  cmd->add_option("--vocab", o->arch.vocab_size)->capture_default_str();
  cmd->add_option("--hidden", o->arch.hidden_size)->capture_default_str();
  cmd->add_option("--intermediate", o->arch.intermediate_size,
                  "0 = LLaMA's 8/3 * hidden rounded to 64");
  cmd->add_option("--layers", o->arch.num_hidden_layers)->capture_default_str();
  cmd->add_option("--heads", o->arch.num_attention_heads)->capture_default_str();
  cmd->add_option("--kv-heads", o->arch.num_key_value_heads, "0 = heads");
  cmd->add_option("--seq", o->seq_len)->capture_default_str();
  cmd->add_option("--batch", o->batch_size)->capture_default_str();
  cmd->add_option("--steps", o->steps, "timed steps")->capture_default_str();
  cmd->add_option("--warmup", o->warmup, "untimed steps first")->capture_default_str();
  cmd->add_option("--threads", o->threads, "0 = all cores")->capture_default_str();
  add_choice<MethodType>(cmd, "--method", o->method.type, "fine-tuning method (default full)");
  cmd->add_option("--lora-r", o->method.lora.r)->capture_default_str();
  add_choice<DType>(cmd, "--base-dtype", o->method.lora.base_dtype,
                    "storage of LoRA's frozen base projections (default fp32)", {}, {},
                    {"fp32", "bf16"});
  add_choice<DType>(cmd, "--dtype", o->precision.dtype,
                    "compute dtype, default fp32 (fp16 with loss scaling; auto: bf16 where native)",
                    {"auto"}, [o](const std::string&) { o->precision.dtype_was_auto = true; });
  cmd->add_option("--device", o->device, "cpu | cuda | auto")->capture_default_str();
  cmd->add_option("--loss-chunk", o->loss_chunk,
                  "positions per chunk of the LM loss's logits (0 = all at once)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--activation-checkpointing", o->activation_checkpointing,
                  "recompute every Nth block in the backward (0 = off)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--profile", o->profile,
                  "write a Chrome trace (chrome://tracing) of the timed steps to FILE");
  cmd->add_flag("--autocast", o->autocast,
                "bf16 through LibTorch CPU autocast instead of explicit casts");
  cmd->callback([o, &g] {
    start(g);
    ModelConfig& a = o->arch;
    if (a.num_key_value_heads <= 0) a.num_key_value_heads = a.num_attention_heads;
    if (a.intermediate_size <= 0) a.intermediate_size = (a.hidden_size * 8 / 3 + 63) / 64 * 64;
    a.max_position_embeddings = std::max<int64_t>(a.max_position_embeddings, o->seq_len);
    if (o->precision.dtype_was_auto) o->precision.dtype = auto_compute_dtype(o->device);
    const CpuInfo& cpu = cpu_info();
    BenchResult r = run_bench(*o);
    std::cout << metric_json({{"impl", std::string("ptune")},
                              {"hidden", a.hidden_size},
                              {"layers", a.num_hidden_layers},
                              {"heads", a.num_attention_heads},
                              {"vocab", a.vocab_size},
                              {"seq", o->seq_len},
                              {"batch", o->batch_size},
                              {"method", std::string(name_of(o->method.type))},
                              {"dtype", std::string(name_of(o->precision.dtype))},
                              {"device", o->device},
                              {"loss_chunk", o->loss_chunk},
                              {"activation_checkpointing", o->activation_checkpointing},
                              {"autocast", static_cast<int64_t>(o->autocast)},
                              {"params", r.params},
                              {"trainable", r.trainable},
                              {"tokens_per_s", r.tokens_per_s},
                              {"ms_per_step", r.ms_per_step},
                              {"ms_forward", r.ms_forward},
                              {"ms_backward", r.ms_backward},
                              {"ms_optimizer", r.ms_optimizer},
                              {"gflops", r.gflops},
                              {"peak_rss_mb", r.peak_rss_mb},
                              {"skipped_steps", r.skipped_steps},
                              {"cpu", cpu.model},
                              {"cpu_flags", cpu.flags()},
                              {"bf16", std::string(cpu.native_bf16() ? "native" : "emulated")},
                              {"aten_kernels", cpu.aten_kernels},
                              {"threads", static_cast<int64_t>(r.threads)}})
              << "\n";
  });
}

}  // namespace ptune::cli
