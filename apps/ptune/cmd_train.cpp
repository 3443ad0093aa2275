// ptune train --config recipe.yaml [--set k=v]... [--dry-run] [--resume | --resume-if-exists]
//             [--nproc N]
#include <iostream>

#include "commands.h"
#include "ptune/config/recipe_loader.h"
#include "ptune/core/error.h"
#include "ptune/core/log.h"
#include "ptune/dist/launch_env.h"
#include "ptune/dist/launcher.h"
#include "ptune/train/metrics.h"
#include "ptune/train/trainer.h"

namespace ptune::cli {

void add_train(CLI::App& app, const GlobalOptions& g) {
  struct Opts {
    std::string config;
    std::vector<std::string> overrides;
    bool dry_run = false;
    bool resume = false;
    bool resume_if_exists = false;
    int64_t stop_at = -1;
    int nproc = 0;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand("train", "train or fine-tune from a YAML recipe");
  cmd->add_option("-c,--config", o->config, "recipe YAML ('-' = stdin)")->required();
  cmd->add_option("--set", o->overrides,
                  "override a recipe value: --set optim.lr=1e-4 (repeatable)");
  cmd->add_flag("--dry-run", o->dry_run,
                "validate and print the resolved recipe as YAML, then exit");
  cmd->add_flag("--resume", o->resume, "continue from the newest checkpoint in output.dir");
  cmd->add_flag("--resume-if-exists", o->resume_if_exists,
                "resume when output.dir has a checkpoint, else start (for job loops)");
  cmd->add_option("--stop-at", o->stop_at,
                  "stop after this step, saving a checkpoint (continue later with --resume)");
  cmd->add_option("--nproc", o->nproc,
                  "run N data-parallel worker processes on this machine (as torchrun "
                  "--nproc_per_node N would); train.batch_size stays the global batch")
      ->check(CLI::Range(1, 1024));
  cmd->callback([o, &g] {
    start(g);
    const LaunchEnv env = launch_env();
    if (o->nproc > 0 && env.distributed())
      usage_error(
          "--nproc {}: this process is already rank {} of {} (WORLD_SIZE is set, as "
          "torchrun sets it); use one launcher or the other",
          o->nproc, env.rank, env.world_size);
    if (o->nproc > 0 && o->config == "-")
      usage_error("--nproc: the workers read the recipe each: give --config a file, not '-'");
    Recipe r = load_recipe(o->config, o->overrides);  // a bad recipe stops here, once
    if (o->dry_run) {
      std::cout << recipe_to_yaml(r);
      return;
    }
    if (o->nproc > 1) {
      // The workers run this command line without --nproc; this process waits for them.
      std::vector<std::string> argv;
      for (size_t i = 0; i < g.argv.size(); ++i) {
        if (g.argv[i] == "--nproc") {
          ++i;
          continue;
        }
        if (g.argv[i].rfind("--nproc=", 0) == 0) continue;
        argv.push_back(g.argv[i]);
      }
      // A peer that died or hangs is noticed within timeout_s (and reported in 2 s more).
      const int rc = run_local_workers(o->nproc, argv, r.train.distributed.timeout_s + 3);
      if (rc != 0) throw ExitCode{rc};
      return;
    }
    set_log_rank(env.rank, env.world_size);
    TrainOptions to;
    to.launch = env;
    to.resume = o->resume;
    to.resume_if_exists = o->resume_if_exists;
    to.stop_at = o->stop_at;
    TrainSummary s = run_training(r, to);
    if (!s.writer) return;  // rank 0 prints the result
    // The one result line on stdout: where the model went and the last losses.
    MetricRecord rec{{"step", s.step},
                     {"output", s.final_dir.empty() ? r.output.dir : s.final_dir}};
    if (s.train_loss >= 0) rec["train_loss"] = s.train_loss;
    if (s.eval_loss >= 0) rec["eval_loss"] = s.eval_loss;
    rec["setup_s"] = s.setup_s;
    if (!s.report.empty()) rec["report"] = s.report;
    std::cout << metric_json(rec) << "\n";
  });
}

}  // namespace ptune::cli
