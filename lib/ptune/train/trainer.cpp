// The training loop, flat and top to bottom like nanoGPT's train.py: set up, then for each
// optimizer step: LR, grad_accum micro-batches (loss normalised by the step's predicted
// tokens, as torchtune does), clip, AdamW, log, eval, checkpoint. Resume restores weights,
// moments, step, data position and RNG, so resumed losses equal uninterrupted ones.
#include "ptune/train/trainer.h"

#include <chrono>
#include <cmath>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>

#include "ptune/config/recipe_loader.h"
#include "ptune/core/blas.h"
#include "ptune/core/context.h"
#include "ptune/core/cpu.h"
#include "ptune/core/error.h"
#include "ptune/core/log.h"
#include "ptune/core/progress.h"
#include "ptune/core/text.h"
#include "ptune/data/dataset.h"
#include "ptune/dist/grad_reducer.h"
#include "ptune/dist/process_group.h"
#include "ptune/dist/replicas.h"
#include "ptune/eval/evaluator.h"
#include "ptune/eval/mtp_eval.h"
#include "ptune/io/checkpoint.h"
#include "ptune/io/fs.h"
#include "ptune/io/hf_cache.h"
#include "ptune/io/weights.h"
#include "ptune/load/memory_estimate.h"
#include "ptune/model/loss.h"
#include "ptune/model/pretrained.h"
#include "ptune/model/weight_init.h"
#include "ptune/mtp/heads_io.h"
#include "ptune/mtp/loss.h"
#include "ptune/peft/method.h"
#include "ptune/precision/precision.h"
#include "ptune/report/report.h"
#include "ptune/train/lr_schedule.h"
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

// output.dir, or the final/ and merged/ it exports to, must not be the model trained from: an
// export replaces those directories.
void check_output_is_not_input(const Recipe& r, const std::string& model_dir) {
  if (model_dir.empty() || !fs::exists(model_dir)) return;
  for (const char* sub : {"", "final", "merged"}) {
    const fs::path out = sub[0] ? fs::path(r.output.dir) / sub : fs::path(r.output.dir);
    std::error_code ec;
    if (fs::exists(out) && fs::equivalent(out, model_dir, ec))
      usage_error(
          "output.dir '{}': {} is model.path '{}', the model this run trains from; "
          "choose another output.dir",
          r.output.dir, sub[0] ? "its " + std::string(sub) + "/" : "it", r.model.path);
  }
}

void prune_checkpoints(const std::string& dir, int64_t keep_last) {
  auto ckpts = list_checkpoints(dir);
  for (size_t i = 0; i + keep_last < ckpts.size(); ++i) fs::remove_all(ckpts[i].second);
}

// Everything a run trains with, built from the recipe before the first step.
struct Run {
  Run(RunContext c, Tokenizer t) : ctx(std::move(c)), tok(std::move(t)) {}
  RunContext ctx;
  Tokenizer tok;
  ModelConfig cfg;
  std::shared_ptr<Method> method;
  ExportMode export_mode = ExportMode::kByMethod;
  Transformer model{nullptr};
  NamedTensors params;                 // what the optimizer updates, MTP heads included
  std::vector<torch::Tensor> tensors;  // the same, as a list
  std::unique_ptr<MtpObjective> mtp;   // null without an mtp: section
  std::unique_ptr<FusedAdamW> opt;
  std::unique_ptr<LossScaler> scaler;  // fp16 only
  ParamCounts counts;                  // the model's (and MTP heads') parameters
  std::optional<Dataset> train_data, eval_data;
};

// `rows`: the sequences of each micro-batch this process holds (its share of the global batch);
// `local_workers`: processes on this machine, each with its own copy of the model.
Run set_up(const Recipe& r, int64_t rows, int local_workers) {
  RunContext ctx =
      RunContext::start(static_cast<int>(r.train.threads), r.train.device, r.train.seed);
  // A Hub id (model.path: org/name) is read from the HF cache; the adapter names the id.
  const std::string model_dir = resolve_model_dir(r.model.path);
  check_output_is_not_input(r, model_dir);
  TokenizerConfig tok = r.tokenizer;
  if (tok.path.empty()) tok.path = model_dir;  // the checkpoint's own tokenizer
  Run run(std::move(ctx), prepare_tokenizer(tok));
  const torch::Device device = run.ctx.device;
  ModelSource source = r.model;
  source.path = model_dir;
  run.cfg = resolve_model_config(source, run.tok);
  MemoryNeeds needs =
      training_memory(run.cfg, r.method, r.mtp, rows, r.data.seq_len, r.train.grad_accum,
                      r.precision.dtype, r.train.loss_chunk, r.train.activation_checkpointing);
  if (local_workers > 1 && !device.is_cuda())
    for (double* b : {&needs.weights, &needs.optimizer, &needs.activations, &needs.data})
      *b *= local_workers;
  check_memory(needs, device,
               local_workers > 1 ? fmt::format("train ({} workers on this machine)", local_workers)
                                 : std::string("train"),
               "lower train.batch_size, data.seq_len or train.grad_accum, recompute activations "
               "(train.activation_checkpointing: true), train fewer parameters (method.type: "
               "lora), or use a smaller model");

  run.method = make_method(r.method, run.cfg);
  run.export_mode = resolve_export(*run.method, r.output.export_);  // before training
  Transformer& model = run.model;
  {
    std::optional<SkipWeightInit> loading;  // the checkpoint's weights replace the initial ones
    if (!r.model.path.empty()) loading.emplace();
    model = Transformer(run.cfg, run.method->builder());
  }
  if (!r.model.path.empty())  // strict, except for the parameters the method adds (LoRA A/B, ...)
    load_weights(*model, CheckpointWeights::open(model_dir), true, run.method->own_params(model));
  run.method->attach(model);
  model->to(device);
  model->set_activation_checkpointing(r.train.activation_checkpointing);
  run.params = run.method->trainable(model);
  run.mtp = make_mtp_objective(r.mtp, model, run.params);  // null unless mtp.style is set
  if (run.mtp && warm_start_mtp_heads(model_dir, *run.mtp->heads()))
    PTUNE_INFO("mtp: heads initialised from {}", model_dir);
  run.opt = make_adamw(r.optim, run.params);
  // Precision: fp32 masters, compute in precision.dtype; fp16 gets a loss scaler.
  const PrecisionPolicy precision = make_precision_policy(r.precision);
  apply_precision(precision, model, run.params);
  run.scaler = make_loss_scaler(r.precision);
  PTUNE_INFO("precision: {}{} compute, fp32 master weights{}", name_of(precision.dtype),
             r.precision.dtype_was_auto ? " (auto)" : "",
             run.scaler ? fmt::format(", loss scale {} ({})", run.scaler->loss_scale(),
                                      r.precision.loss_scale.dynamic ? "dynamic" : "static")
                        : "");
  for (auto& [_, p] : run.params) run.tensors.push_back(p);
  ParamCounts n = count_params(*model);
  if (run.mtp) {  // the MTP heads are trained but live outside the model
    const ParamCounts heads = count_params(*run.mtp->heads());
    n.total += heads.total;
    n.trainable += heads.trainable;
  }
  run.counts = n;
  PTUNE_INFO("model: {} layers, hidden {}, vocab {}; method {}: {} trainable of {} parameters",
             run.cfg.num_hidden_layers, run.cfg.hidden_size, run.cfg.vocab_size, run.method->name(),
             n.trainable, n.total);

  run.train_data = Dataset::load(r.data.train, &run.tok, r.data.seq_len, r.data.add_bos,
                                 "data.train", r.data.packing);
  if (!r.data.eval.path.empty())
    run.eval_data = Dataset::load(r.data.eval, &run.tok, r.data.seq_len, r.data.add_bos,
                                  "data.eval", r.data.packing);
  PTUNE_INFO("data: {} training sequences ({} targets){}", run.train_data->size(),
             run.train_data->total_targets(),
             run.eval_data ? fmt::format(", {} eval sequences", run.eval_data->size()) : "");
  return run;
}

// --resume: the newest checkpoint's weights, optimizer, data position, RNG and scaler.
TrainState resume(Run& run, const std::string& out, BatchIterator& batches, int rank, int world) {
  auto ckpts = list_checkpoints(out);
  if (ckpts.empty()) usage_error("--resume: no checkpoint-<step> in output.dir '{}'", out);
  const std::string& dir = ckpts.back().second;
  PTUNE_INFO("resuming from {}", dir);
  // PEFT checkpoints hold only the trainable tensors: load them on top of the base.
  load_weights(*run.model, CheckpointWeights::open(dir), false);
  if (run.mtp) load_mtp_weights(dir, *run.mtp->heads());
  TrainState state = load_train_state(dir + "/" + kTrainStateFile, *run.opt);
  // Each rank's own RNG stream; the data position is global, so another world size continues
  // the same batches (ranks the checkpoint has no stream for start a new one).
  if (state.world_size != world)
    PTUNE_INFO(
        "resume: {} was saved by {} process{}, this run has {}: the data continues where "
        "it stopped; RNG streams (dropout) of ranks it has none for start anew",
        dir, state.world_size, state.world_size > 1 ? "es" : "", world);
  if (rank < static_cast<int>(state.rank_rng.size()))
    run.ctx.set_rng_state(state.rank_rng[rank]);
  else if (rank == 0)
    run.ctx.set_rng_state(state.rng);
  batches.set_position(state.data);
  if (run.scaler && !state.extra.empty())
    run.scaler->load_state(state.extra, dir);
  else if (run.scaler)
    PTUNE_WARN("resume: {} has no loss-scaler state; starting from scale {}", dir,
               run.scaler->loss_scale());
  return state;
}

// final/ (and merged/ for a PEFT run exported both ways), each written atomically.
std::string export_final(Run& run, const Recipe& r) {
  const std::string out = r.output.dir;
  std::string final_dir;
  if (run.export_mode != ExportMode::kAdapter) {  // merged or both
    const std::string dir = out + (run.method->is_peft() ? "/merged" : "/final");
    NamedTensors weights = run.method->merged_weights(run.model);
    if (r.output.dtype)
      for (auto& [_, t] : weights) t = t.to(scalar_type(*r.output.dtype));
    write_dir_atomic(dir, [&](const std::string& tmp) {
      write_model_files(tmp, run.cfg, weights, run.tok.files());
      if (run.mtp) save_mtp_heads(tmp, run.mtp->config(), *run.mtp->heads());
    });
    final_dir = dir;
    PTUNE_INFO("wrote {}", dir);
  }
  if (run.export_mode != ExportMode::kMerged) {  // adapter or both
    const std::string dir = out + "/final";
    write_dir_atomic(dir, [&](const std::string& tmp) {
      run.method->export_adapter(run.model, tmp, r.model.path);
      copy_files_into(tmp, run.tok.files());
      if (run.mtp) save_mtp_heads(tmp, run.mtp->config(), *run.mtp->heads());
    });
    final_dir = dir;
    PTUNE_INFO("wrote {}", dir);
  }
  return final_dir;
}

}  // namespace

TrainSummary run_training(const Recipe& r, const TrainOptions& o) {
  // ---- setup ------------------------------------------------------------------------------
  const auto setup_start = Clock::now();
  // Data parallel over c10d when this process is one of several: every rank reads the same
  // global batches and trains on its rows of each; rank 0 alone writes files.
  const LaunchEnv& env = o.launch;
  const int rank = env.rank, world = env.world_size;
  std::unique_ptr<DistGroup> group;
  if (env.distributed()) {
    if (r.train.batch_size < world)
      usage_error(
          "train.batch_size is {} but the run has {} processes: each needs at least one "
          "sequence of every batch (train.batch_size is the global batch)",
          r.train.batch_size, world);
    group = DistGroup::connect(env, r.train.distributed.backend, resolve_device(r.train.device),
                               r.train.distributed.timeout_s);
    PTUNE_INFO("distributed: {} processes ({} on this machine), {} through {}:{}", world,
               env.local_world_size, group->backend_name(), env.master_addr, env.master_port);
  }
  const bool writer = rank == 0;
  Run run = set_up(r, (r.train.batch_size + world - 1) / world, env.local_world_size);
  Transformer& model = run.model;
  MtpObjective* mtp = run.mtp.get();
  LossScaler* scaler = run.scaler.get();
  const int64_t pad_id = run.tok.pad_id();
  BatchIterator batches(*run.train_data, r.train.batch_size, r.train.seed, r.data.shuffle, pad_id);
  const std::string out = r.output.dir;
  TrainState state;
  // --resume-if-exists: a job loop's restart resumes, its first start starts.
  const bool resuming = o.resume || (o.resume_if_exists && !list_checkpoints(out).empty());
  if (o.resume_if_exists)
    PTUNE_INFO("{}", resuming ? "a checkpoint exists: resuming" : "no checkpoint yet: starting");
  if (resuming)
    state = resume(run, out, batches, rank, world);
  else
    check_fresh_output(out);
  std::unique_ptr<GradReducer> reducer;
  if (group) {
    // One model on every rank: all tensors compared with rank 0's, the trained ones broadcast.
    NamedTensors everything;
    for (const auto& item : model->named_parameters())
      everything.emplace_back(item.key(), item.value());
    if (mtp)
      for (const auto& [name, t] : mtp->heads()->named_tensors())
        everything.emplace_back("mtp." + name, t);
    check_replicas(*group, everything);
    broadcast_from_rank0(*group, run.params);
    // Ranks draw their own dropout streams (rank 0's is the one-process run's).
    if (rank > 0 && !(resuming && rank < static_cast<int>(state.rank_rng.size())))
      torch::manual_seed(r.train.seed ^ (0x9e3779b97f4a7c15ULL * static_cast<uint64_t>(rank)));
    // MTP heads backpropagate head by head: their buckets go out after the backward.
    reducer = std::make_unique<GradReducer>(*group, run.tensors, r.train.distributed.bucket_mb,
                                            /*overlap=*/mtp == nullptr);
    PTUNE_INFO("distributed: {:.1f} MiB of fp32 gradients per step in {} bucket{}{}",
               reducer->bytes_per_step() / 1048576.0, reducer->buckets(),
               reducer->buckets() > 1 ? "s" : "",
               mtp ? ", reduced after the backward" : ", overlapped with the backward");
  }
  auto reduce_sums = [&](const std::string& what) -> std::function<void(std::vector<double>&)> {
    if (!group) return {};
    return [&g = *group, what](std::vector<double>& v) { v = g.sum(v, what); };
  };
  if (writer) {
    fs::create_directories(out);
    write_file_atomic(out + "/recipe.yaml", recipe_to_yaml(r));
  }
  std::optional<MetricsSink> metrics;
  if (writer) metrics.emplace(out + "/metrics.jsonl", resuming ? state.step : 0);
  // run.json: what the report's table shows beside the curves; rewritten when the run ends.
  const std::string started = utc_now();
  auto write_run_info = [&](bool finished) {
    nlohmann::ordered_json j;
    j["method"] = run.method->name();
    j["params_total"] = run.counts.total;
    j["params_trainable"] = run.counts.trainable;
    j["steps"] = r.train.steps;
    j["batch_size"] = r.train.batch_size;
    j["seq_len"] = r.data.seq_len;
    j["precision"] = name_of(r.precision.dtype);
    j["threads"] = run.ctx.threads;
    j["processes"] = world;
    j["cpu"] = cpu_info().model;
    j["started"] = started;
    j["finished"] = finished;
    j["peak_rss_mb"] = peak_rss_mb();
    write_file_atomic(out + "/run.json", j.dump(2) + "\n");
  };
  if (writer) write_run_info(false);
  // report.html at each eval and at the end; a report that cannot be written is a warning.
  bool report_failed = false;
  auto write_run_report = [&] {
    if (!writer || !r.train.report || report_failed) return;
    try {
      write_report({out}, out + "/report.html");
    } catch (const Error& e) {
      report_failed = true;
      PTUNE_WARN("train.report: {} (training goes on without report.html)", e.what());
    }
  };

  // Every rank reaches this (its RNG state is gathered); rank 0 then writes.
  auto save_checkpoint = [&](const std::string& dir) {
    state.data = batches.position();
    state.rng = run.ctx.rng_state();
    state.world_size = world;
    if (group) {
      state.rank_rng = group->all_gather(state.rng, "the RNG gather for " + dir);
      state.rng = state.rank_rng[0];
    }
    if (scaler) state.extra = scaler->state();
    if (!writer) return;
    write_dir_atomic(dir, [&](const std::string& tmp) {
      write_model_files(tmp, run.cfg, run.method->checkpoint_tensors(model), run.tok.files());
      save_train_state(tmp + "/" + kTrainStateFile, state, *run.opt);
      if (mtp) save_mtp_heads(tmp, mtp->config(), *mtp->heads());
    });
  };
  EvalOptions eval_options;
  eval_options.batch_size = r.train.batch_size;
  eval_options.max_batches = r.train.eval_batches;
  eval_options.rank = rank;
  eval_options.world = world;
  auto eval_into = [&](MetricRecord& rec) {  // eval loss, and per-head MTP loss/accuracy
    model->eval();
    eval_options.reduce = reduce_sums(fmt::format("the eval reduce at step {}", state.step));
    EvalResult e = evaluate(model, *run.eval_data, pad_id, eval_options);
    rec["eval_loss"] = e.loss;
    rec["eval_perplexity"] = e.perplexity;
    rec["eval_accuracy"] = e.accuracy;
    if (mtp)
      for (const HeadEval& h :
           evaluate_heads(model, *mtp->heads(), *run.eval_data, pad_id, eval_options)) {
        rec[fmt::format("eval_mtp_loss_{}", h.head)] = h.loss;
        rec[fmt::format("eval_mtp_acc_{}", h.head)] = h.accuracy;
      }
    model->train();
    return e;
  };

  // ---- loop --------------------------------------------------------------------------------
  const int64_t total = r.train.steps;
  const int64_t last = o.stop_at > 0 ? std::min(o.stop_at, total) : total;
  TrainSummary summary;
  model->train();
  summary.setup_s = seconds_since(setup_start);
  PTUNE_INFO("ready to train in {:.1f} s (model, data, optimizer{})", summary.setup_s,
             resuming ? ", checkpoint" : "");
  const auto run_start = Clock::now();
  auto window_start = Clock::now();
  auto last_line = Clock::now();  // the last step line on stderr: one at least every 30 s
  int64_t window_tokens = 0, window_steps = 0;
  double window_reduce_s = 0;  // gradient all-reduce time (exposed) inside the window
  const int64_t first_step = state.step;
  const int64_t tokens_before = state.tokens_seen;
  ProgressLine progress("step", last);  // a terminal's redrawn line; log lines as before
  const std::string blas = openblas_core();
  if (first_step >= last)
    PTUNE_INFO("nothing to train: the run is at step {} of {}", first_step, total);
  else
    PTUNE_INFO("training steps {}..{} of {} on {} threads{}; {}", first_step + 1, last, total,
               run.ctx.threads, blas.empty() ? "" : " (OpenBLAS " + blas + " kernels)",
               run.ctx.device.is_cuda() ? "CUDA" : "CPU " + cpu_summary());

  while (state.step < last) {
    const int64_t step = state.step;  // 0-based index of this optimizer step
    const double lr = lr_at(r.schedule, r.optim.lr, step, total);
    set_lr(*run.opt, lr);
    for (auto& p : run.tensors) p.mutable_grad().reset();  // set_to_none: no zero-fill pass

    std::vector<Batch> micro;
    int64_t step_targets = 0, step_tokens = 0;  // of the global batches, over all ranks
    for (int64_t i = 0; i < r.train.grad_accum; ++i) {
      Batch global = batches.next();
      step_targets += global.n_targets;
      step_tokens += global.n_tokens;
      micro.push_back(*rank_share(std::move(global), rank, world));  // batch_size >= world
      micro.back().input_ids = micro.back().input_ids.to(run.ctx.device);
      micro.back().targets = micro.back().targets.to(run.ctx.device);
      if (micro.back().positions.defined())
        micro.back().positions = micro.back().positions.to(run.ctx.device);
    }
    double loss_sum = 0.0;  // this rank's share of the step's loss (all ranks: the loss)
    for (const Batch& b : micro) {
      if (reducer && &b == &micro.back()) reducer->arm();  // buckets leave during this backward
      if (mtp) {  // LM + MTP loss, backpropagated head by head (mtp/loss.h)
        loss_sum +=
            mtp->forward_backward(model, b, step_targets, scaler ? scaler->loss_scale() : 1.0);
        continue;
      }
      const torch::Tensor loss =
          model->loss_sum(model->hidden(b.input_ids, {nullptr, -1, b.positions}), b.targets,
                          r.train.loss_chunk) /
          std::max<int64_t>(1, step_targets);
      (scaler ? scaler->scale(loss) : loss).backward();
      loss_sum += loss.item<double>();
    }
    if (reducer) {  // the global gradient and loss on every rank
      reducer->finish(step + 1);
      loss_sum = group->sum({loss_sum}, fmt::format("the loss sum at step {}", step + 1))[0];
      window_reduce_s += reducer->exposed_s();
    }
    // fp16 overflows are skipped by the scaler below; otherwise a non-finite loss is fatal.
    if (!std::isfinite(loss_sum) && !scaler)
      runtime_error("step {}: loss is {}; lower optim.lr or check the data", step + 1, loss_sum);
    const double scale_used = scaler ? scaler->loss_scale() : 1.0;
    // (fp16: unscale + one inf/NaN check), clip, AdamW step or skip, scaler update.
    const StepOutcome outcome = clip_and_step(*run.opt, run.tensors, r.optim.grad_clip, scaler);
    const double grad_norm = outcome.grad_norm;
    if (outcome.skipped && writer)
      PTUNE_WARN("step {}: fp16 gradient overflow at loss scale {}; step skipped, scale now {}",
                 step + 1, scale_used, scaler->loss_scale());
    state.step = step + 1;
    state.tokens_seen += step_tokens;
    window_tokens += step_tokens;
    ++window_steps;
    summary.train_loss = loss_sum;
    progress.update(state.step, fmt::format("loss {:.4f} | {:.0f} tok/s", loss_sum,
                                            static_cast<double>(state.tokens_seen - tokens_before) /
                                                std::max(1e-9, seconds_since(run_start))));

    const bool log_now = state.step % r.train.log_every == 0 || state.step == last;
    const bool eval_now =
        run.eval_data &&
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
      for (const auto& [key, value] :
           mtp->step_metrics(reduce_sums(fmt::format("the MTP metrics at step {}", state.step))))
        rec[key] = value;
    // tokens/s measures training alone: the window closes before this step's eval, report and
    // checkpoint, and the next one opens after them.
    const double window_s = seconds_since(window_start);
    bool window_closed = false;
    if (eval_now) {
      const EvalResult e = eval_into(rec);
      summary.eval_loss = e.loss;
      PTUNE_INFO("step {}/{} | eval loss {:.4f} | ppl {:.2f} | acc {:.3f}", state.step, total,
                 e.loss, e.perplexity, e.accuracy);
    }
    if (log_now || eval_now) {
      const double tps = window_tokens / std::max(1e-9, window_s);
      const double per_step = seconds_since(run_start) / (state.step - first_step);
      rec["tokens_per_s"] = tps;
      rec["elapsed_s"] = seconds_since(run_start);
      rec["peak_rss_mb"] = peak_rss_mb();
      if (reducer) {  // the part of a step the gradient all-reduce held it up
        rec["allreduce_s"] = window_reduce_s / std::max<int64_t>(1, window_steps);
        rec["allreduce_mb"] = reducer->bytes_per_step() / 1048576.0;
      }
      if (metrics) metrics->write(rec);
      if (eval_now) write_run_report();
      if (log_now)
        PTUNE_INFO("step {}/{} | loss {:.4f} | lr {:.2e} | grad {:.3f} | {:.0f} tok/s | eta {}",
                   state.step, total, loss_sum, lr, grad_norm, tps,
                   format_duration(per_step * (last - state.step)));
      window_closed = true;
      window_tokens = 0;
      window_steps = 0;
      window_reduce_s = 0;
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
      const auto t0 = Clock::now();
      save_checkpoint(fmt::format("{}/checkpoint-{}", out, state.step));
      if (writer) {
        prune_checkpoints(out, r.train.keep_last);
        PTUNE_INFO("saved {}/checkpoint-{}", out, state.step);
      }
      if (!window_closed) window_start += Clock::now() - t0;  // an open window skips the save
    }
    if (window_closed) window_start = Clock::now();
  }
  summary.step = state.step;
  summary.writer = writer;
  if (state.step < total) {
    PTUNE_INFO("stopped at step {} of {}; continue with --resume", state.step, total);
    return summary;
  }

  // ---- export ------------------------------------------------------------------------------
  if (!writer) return summary;  // rank 0 exports
  summary.final_dir = export_final(run, r);
  write_run_info(true);
  write_run_report();
  if (r.train.report && !report_failed) summary.report = out + "/report.html";
  return summary;
}

}  // namespace ptune
