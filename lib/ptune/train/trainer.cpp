// The training loop, flat and top to bottom like nanoGPT's train.py: set up, then for each
// optimizer step: LR, grad_accum micro-batches (loss normalised by the step's predicted
// tokens, as torchtune does), clip, AdamW, log, eval, checkpoint. Resume restores weights,
// moments, step, data position and RNG, so resumed losses equal uninterrupted ones.
#include "ptune/train/trainer.h"

#include <torch/nn/utils/clip_grad.h>

#include <chrono>
#include <cmath>
#include <filesystem>

#include "ptune/config/recipe_loader.h"
#include "ptune/core/blas.h"
#include "ptune/core/context.h"
#include "ptune/core/cpu.h"
#include "ptune/core/error.h"
#include "ptune/core/log.h"
#include "ptune/data/dataset.h"
#include "ptune/eval/evaluator.h"
#include "ptune/eval/mtp_eval.h"
#include "ptune/io/checkpoint.h"
#include "ptune/io/fs.h"
#include "ptune/model/loss.h"
#include "ptune/model/weights.h"
#include "ptune/mtp/heads_io.h"
#include "ptune/mtp/loss.h"
#include "ptune/peft/method.h"
#include "ptune/precision/precision.h"
#include "ptune/train/lr_schedule.h"
#include "ptune/train/memory_estimate.h"
#include "ptune/train/metrics.h"
#include "ptune/train/optimizer.h"
#include "ptune/train/run_setup.h"
#include "ptune/train/train_state.h"

namespace fs = std::filesystem;

namespace ptune {

namespace {

using Clock = std::chrono::steady_clock;

constexpr double kProgressEveryS = 30;  // longest silence on stderr between step lines

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

std::string format_duration(double s) {
  const auto total = static_cast<int64_t>(std::max(0.0, s));
  if (total >= 3600) return fmt::format("{}h{:02}m", total / 3600, (total % 3600) / 60);
  if (total >= 60) return fmt::format("{}m{:02}s", total / 60, total % 60);
  return fmt::format("{}s", total);
}

// Refuses to start a fresh run on top of an existing one (its checkpoints would be mixed
// with or replaced by the new run's).
void check_fresh_output(const std::string& dir) {
  const auto ckpts = list_checkpoints(dir);
  if (!ckpts.empty() || fs::exists(fs::path(dir) / "final"))
    usage_error(
        "output.dir '{}' already holds a run ({}); pass --resume to continue it, or "
        "choose another output.dir",
        dir, ckpts.empty() ? "final/" : fs::path(ckpts.back().second).filename().string());
}

void prune_checkpoints(const std::string& dir, int64_t keep_last) {
  auto ckpts = list_checkpoints(dir);
  for (size_t i = 0; i + keep_last < ckpts.size(); ++i) fs::remove_all(ckpts[i].second);
}

}  // namespace

TrainSummary run_training(const Recipe& r, const TrainOptions& o) {
  // ---- setup ------------------------------------------------------------------------------
  const int threads = apply_threads(static_cast<int>(r.train.threads));
  const torch::Device device = resolve_device(r.train.device);
  torch::manual_seed(r.train.seed);
  Tokenizer tok = prepare_tokenizer(r.tokenizer);
  ModelConfig cfg = resolve_model_config(r.model, tok);
  check_memory(training_memory(cfg, r.method, r.mtp, r.train.batch_size, r.data.seq_len,
                               r.train.grad_accum, r.precision.dtype),
               device, "train",
               "lower train.batch_size, data.seq_len or train.grad_accum, train fewer parameters "
               "(method.type: lora), or use a smaller model");

  auto method = make_method(r.method, cfg);
  const std::string export_mode = resolve_export(*method, r.output.export_);  // before training
  Transformer model(cfg, method->builder());
  if (!r.model.path.empty())  // strict, except for the parameters the method adds (LoRA A/B, ...)
    load_weights(*model, CheckpointWeights::open(r.model.path), true, method->own_params(model));
  method->attach(model);
  model->to(device);
  NamedTensors params = method->trainable(model);
  auto mtp = make_mtp_objective(r.mtp, model, params);  // null unless mtp.style is set
  if (mtp && warm_start_mtp_heads(r.model.path, *mtp->heads()))
    PTUNE_INFO("mtp: heads initialised from {}", r.model.path);
  auto opt = make_adamw(r.optim, params);
  // Precision: fp32 masters, compute in precision.dtype; fp16 gets a loss scaler.
  const PrecisionPolicy precision = make_precision_policy(r.precision);
  apply_precision(precision, model, params);
  std::unique_ptr<LossScaler> scaler = make_loss_scaler(r.precision);
  PTUNE_INFO("precision: {}{} compute, fp32 master weights{}", precision.name,
             r.precision.dtype_was_auto ? " (auto)" : "",
             scaler ? fmt::format(", loss scale {} ({})", scaler->loss_scale(),
                                  r.precision.loss_scale.dynamic ? "dynamic" : "static")
                    : "");
  std::vector<torch::Tensor> param_tensors;
  int64_t n_trainable = 0, n_total = 0;
  for (auto& [_, p] : params) param_tensors.push_back(p), n_trainable += p.numel();
  for (auto& p : model->parameters()) n_total += p.numel();
  if (mtp)  // the MTP heads are trained (and counted in n_trainable) but live outside the model
    for (auto& p : mtp->heads()->parameters()) n_total += p.numel();
  PTUNE_INFO("model: {} layers, hidden {}, vocab {}; method {}: {} trainable of {} parameters",
             cfg.num_hidden_layers, cfg.hidden_size, cfg.vocab_size, method->name(), n_trainable,
             n_total);

  const int64_t pad_id = tok.pad_id();
  Dataset train_data =
      Dataset::load(r.data.train, &tok, r.data.seq_len, r.data.add_bos, "data.train");
  std::optional<Dataset> eval_data;
  if (!r.data.eval.path.empty())
    eval_data = Dataset::load(r.data.eval, &tok, r.data.seq_len, r.data.add_bos, "data.eval");
  PTUNE_INFO("data: {} training sequences ({} targets){}", train_data.size(),
             train_data.total_targets(),
             eval_data ? fmt::format(", {} eval sequences", eval_data->size()) : "");
  BatchIterator batches(train_data, r.train.batch_size, r.train.seed, r.data.shuffle, pad_id);

  // ---- output dir, resume ------------------------------------------------------------------
  const std::string out = r.output.dir;
  TrainState state;
  if (o.resume) {
    auto ckpts = list_checkpoints(out);
    if (ckpts.empty()) usage_error("--resume: no checkpoint-<step> in output.dir '{}'", out);
    const std::string& dir = ckpts.back().second;
    PTUNE_INFO("resuming from {}", dir);
    // PEFT checkpoints hold only the trainable tensors: load them on top of the base.
    load_weights(*model, CheckpointWeights::open(dir), false);
    if (mtp) load_mtp_weights(dir, *mtp->heads());
    state = load_train_state(dir + "/" + kTrainStateFile, *opt);
    batches.set_position(state.data);
    if (scaler && !state.extra.empty())
      scaler->load_state(state.extra, dir);
    else if (scaler)
      PTUNE_WARN("resume: {} has no loss-scaler state; starting from scale {}", dir,
                 scaler->loss_scale());
  } else {
    check_fresh_output(out);
  }
  fs::create_directories(out);
  write_file_atomic(out + "/recipe.yaml", recipe_to_yaml(r));
  MetricsSink metrics(out + "/metrics.jsonl", o.resume ? state.step : 0);

  auto save_checkpoint = [&](const std::string& dir) {
    state.data = batches.position();
    if (scaler) state.extra = scaler->state();
    write_dir_atomic(dir, [&](const std::string& tmp) {
      write_model_files(tmp, cfg, method->checkpoint_tensors(model), tok.path());
      save_train_state(tmp + "/" + kTrainStateFile, state, *opt);
      if (mtp) save_mtp_heads(tmp, mtp->config(), *mtp->heads());
    });
  };
  auto run_eval = [&]() {
    model->eval();
    EvalOptions eo;
    eo.batch_size = r.train.batch_size;
    eo.max_batches = r.train.eval_batches;
    auto args_fn = [&](const torch::Tensor& ids) { return model->forward(ids.to(device)); };
    EvalResult e = evaluate(args_fn, *eval_data, pad_id, eo);
    model->train();
    return e;
  };
  auto run_head_eval = [&](MetricRecord& rec) {  // per-head loss/accuracy of MTP heads
    model->eval();
    EvalOptions eo;
    eo.batch_size = r.train.batch_size;
    eo.max_batches = r.train.eval_batches;
    for (const HeadEval& h : evaluate_heads(model, *mtp->heads(), *eval_data, pad_id, eo)) {
      rec[fmt::format("eval_mtp_loss_{}", h.head)] = h.loss;
      rec[fmt::format("eval_mtp_acc_{}", h.head)] = h.accuracy;
    }
    model->train();
  };

  // ---- loop --------------------------------------------------------------------------------
  const int64_t total = r.train.steps;
  const int64_t last = o.stop_at > 0 ? std::min(o.stop_at, total) : total;
  TrainSummary summary;
  model->train();
  const auto run_start = Clock::now();
  auto window_start = Clock::now();
  auto last_line = Clock::now();  // the last step line on stderr: one at least every 30 s
  int64_t window_tokens = 0;
  const int64_t first_step = state.step;
  const std::string blas = openblas_core();
  if (first_step >= last)
    PTUNE_INFO("nothing to train: the run is at step {} of {}", first_step, total);
  else
    PTUNE_INFO("training steps {}..{} of {} on {} threads{}; {}", first_step + 1, last, total,
               threads, blas.empty() ? "" : " (OpenBLAS " + blas + " kernels)",
               device.is_cuda() ? "CUDA" : "CPU " + cpu_summary());

  while (state.step < last) {
    const int64_t step = state.step;  // 0-based index of this optimizer step
    const double lr = lr_at(r.schedule, r.optim.lr, step, total);
    set_lr(*opt, lr);
    for (auto& p : param_tensors) p.mutable_grad().reset();  // set_to_none: no zero-fill pass

    std::vector<Batch> micro;
    int64_t step_targets = 0, step_tokens = 0;
    for (int64_t i = 0; i < r.train.grad_accum; ++i) {
      micro.push_back(batches.next());
      micro.back().input_ids = micro.back().input_ids.to(device);
      micro.back().targets = micro.back().targets.to(device);
      step_targets += micro.back().n_targets;
      step_tokens += micro.back().n_tokens;
    }
    double loss_sum = 0.0;
    for (const Batch& b : micro) {
      if (mtp) {  // LM + MTP loss, backpropagated head by head (mtp/loss.h)
        loss_sum +=
            mtp->forward_backward(model, b, step_targets, scaler ? scaler->loss_scale() : 1.0);
        continue;
      }
      torch::Tensor logits = model->forward(b.input_ids);
      torch::Tensor loss = lm_loss_sum(logits, b.targets) / std::max<int64_t>(1, step_targets);
      (scaler ? scaler->scale(loss) : loss).backward();
      loss_sum += loss.item<double>();
    }
    // fp16 overflows are skipped by the scaler below; otherwise a non-finite loss is fatal.
    if (!std::isfinite(loss_sum) && !scaler)
      runtime_error("step {}: loss is {}; lower optim.lr or check the data", step + 1, loss_sum);
    const double scale_used = scaler ? scaler->loss_scale() : 1.0;
    // (fp16: unscale + one inf/NaN check), clip, AdamW step or skip, scaler update.
    const StepOutcome outcome = clip_and_step(*opt, param_tensors, r.optim.grad_clip, scaler.get());
    const double grad_norm = outcome.grad_norm;
    if (outcome.skipped)
      PTUNE_WARN("step {}: fp16 gradient overflow at loss scale {}; step skipped, scale now {}",
                 step + 1, scale_used, scaler->loss_scale());
    state.step = step + 1;
    state.tokens_seen += step_tokens;
    window_tokens += step_tokens;
    summary.train_loss = loss_sum;

    const bool log_now = state.step % r.train.log_every == 0 || state.step == last;
    const bool eval_now =
        eval_data &&
        ((r.train.eval_every > 0 && state.step % r.train.eval_every == 0) || state.step == total);
    MetricRecord rec{{"step", state.step},
                     {"loss", loss_sum},
                     {"lr", lr},
                     {"grad_norm", grad_norm},
                     {"tokens", state.tokens_seen}};
    if (scaler) {
      rec["loss_scale"] = scaler->loss_scale();
      rec["skipped_steps"] = scaler->skipped_steps();
    }
    if (mtp)
      for (const auto& [key, value] : mtp->step_metrics()) rec[key] = value;
    if (eval_now) {
      EvalResult e = run_eval();
      rec["eval_loss"] = e.loss;
      rec["eval_perplexity"] = e.perplexity;
      rec["eval_accuracy"] = e.accuracy;
      if (mtp) run_head_eval(rec);
      summary.eval_loss = e.loss;
      PTUNE_INFO("step {}/{} | eval loss {:.4f} | ppl {:.2f} | acc {:.3f}", state.step, total,
                 e.loss, e.perplexity, e.accuracy);
    }
    if (log_now || eval_now) {
      const double window_s = seconds_since(window_start);
      const double tps = window_tokens / std::max(1e-9, window_s);
      const double per_step = seconds_since(run_start) / (state.step - first_step);
      rec["tokens_per_s"] = tps;
      rec["elapsed_s"] = seconds_since(run_start);
      metrics.write(rec);
      if (log_now)
        PTUNE_INFO("step {}/{} | loss {:.4f} | lr {:.2e} | grad {:.3f} | {:.0f} tok/s | eta {}",
                   state.step, total, loss_sum, lr, grad_norm, tps,
                   format_duration(per_step * (last - state.step)));
      window_start = Clock::now();
      window_tokens = 0;
      if (log_now) last_line = Clock::now();
    } else if (seconds_since(last_line) >= kProgressEveryS) {
      // A slow model with a large log_every would show nothing for minutes: a progress line
      // (stderr only; metrics.jsonl keeps its log_every records).
      const double per_step = seconds_since(run_start) / (state.step - first_step);
      PTUNE_INFO("step {}/{} | loss {:.4f} | {:.0f} tok/s | eta {}", state.step, total, loss_sum,
                 window_tokens / std::max(1e-9, seconds_since(window_start)),
                 format_duration(per_step * (last - state.step)));
      last_line = Clock::now();
    }
    const bool save_now = (r.train.save_every > 0 && state.step % r.train.save_every == 0) ||
                          (state.step == last && last < total);
    if (save_now) {
      save_checkpoint(fmt::format("{}/checkpoint-{}", out, state.step));
      prune_checkpoints(out, r.train.keep_last);
      PTUNE_INFO("saved {}/checkpoint-{}", out, state.step);
    }
  }
  summary.step = state.step;
  if (state.step < total) {
    PTUNE_INFO("stopped at step {} of {}; continue with --resume", state.step, total);
    return summary;
  }

  // ---- export ------------------------------------------------------------------------------
  const std::string& mode = export_mode;
  if (mode == "merged" || mode == "both") {
    const std::string dir = out + (method->is_peft() ? "/merged" : "/final");
    NamedTensors weights = method->merged_weights(model);
    if (!r.output.dtype.empty()) {
      const auto dt = r.output.dtype == "bf16"   ? torch::kBFloat16
                      : r.output.dtype == "fp16" ? torch::kFloat16
                                                 : torch::kFloat32;
      for (auto& [_, t] : weights) t = t.to(dt);
    }
    write_dir_atomic(dir, [&](const std::string& tmp) {
      write_model_files(tmp, cfg, weights, tok.path());
      if (mtp) save_mtp_heads(tmp, mtp->config(), *mtp->heads());
    });
    summary.final_dir = dir;
    PTUNE_INFO("wrote {}", dir);
  }
  if (mode == "adapter" || mode == "both") {
    const std::string dir = out + "/final";
    write_dir_atomic(dir, [&](const std::string& tmp) {
      method->export_adapter(model, tmp, r.model.path);
      fs::copy_file(tok.path(), tmp + "/tokenizer.model");
      if (mtp) save_mtp_heads(tmp, mtp->config(), *mtp->heads());
    });
    summary.final_dir = dir;
    PTUNE_INFO("wrote {}", dir);
  }
  return summary;
}

}  // namespace ptune
