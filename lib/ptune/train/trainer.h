// The training loop: recipe in, checkpoints and metrics out.
#pragma once

#include <cstdint>
#include <string>

#include "ptune/config/recipe.h"
#include "ptune/dist/launch_env.h"

namespace ptune {

struct TrainOptions {
  bool resume = false;            // continue from the newest output.dir/checkpoint-<step>
  bool resume_if_exists = false;  // resume when output.dir has a checkpoint, else start
  int64_t stop_at = -1;           // stop (after saving a checkpoint) once this step is reached
  LaunchEnv launch;               // one of several processes (torchrun, --nproc): data parallel
};

struct TrainSummary {
  int64_t step = 0;
  double train_loss = -1.0;  // < 0: no step ran (resuming a finished run)
  double eval_loss = -1.0;   // < 0: no eval data
  std::string final_dir;     // empty when stopped early
  std::string report;        // output.dir/report.html when train.report wrote it
  double setup_s = 0;        // from the call to the first step: model, data, optimizer, resume
  bool writer = true;        // this process wrote the run's files (rank 0 of a distributed run)
};

TrainSummary run_training(const Recipe& r, const TrainOptions& o);

}  // namespace ptune
