// ptune train --config recipe.yaml [--set k=v]... [--dry-run] [--resume | --resume-if-exists]
#include <iostream>

#include "commands.h"
#include "ptune/config/recipe_loader.h"
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
  cmd->callback([o, &g] {
    start(g);
    Recipe r = load_recipe(o->config, o->overrides);
    if (o->dry_run) {
      std::cout << recipe_to_yaml(r);
      return;
    }
    TrainOptions to;
    to.resume = o->resume;
    to.resume_if_exists = o->resume_if_exists;
    to.stop_at = o->stop_at;
    TrainSummary s = run_training(r, to);
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
