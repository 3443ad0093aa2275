// Training state saved beside the weights of every checkpoint-<step>/ for exact resume:
// step, data position, RNG state and optimizer moments, in one torch archive
// (training_state.pt).
#pragma once

#include <torch/optim/optimizer.h>

#include <cstdint>
#include <string>
#include <vector>

#include "ptune/data/dataset.h"

namespace ptune {

struct TrainState {
  int64_t step = 0;   // optimizer steps completed
  DataPosition data;  // where the train iterator stands
  int64_t tokens_seen = 0;
  std::vector<double> extra;  // precision/scaler state (scale, growth tracker, ...) when used
  torch::Tensor rng;          // RunContext::rng_state() at the step (rank 0's)
  // A distributed run: the number of ranks and each rank's RNG state (rng is rank_rng[0]).
  int64_t world_size = 1;
  std::vector<torch::Tensor> rank_rng;
};

constexpr const char* kTrainStateFile = "training_state.pt";

void save_train_state(const std::string& path, const TrainState& s, torch::optim::Optimizer& opt);
TrainState load_train_state(const std::string& path, torch::optim::Optimizer& opt);

// checkpoint-<step> dirs of a run, sorted by step (ignores temporaries).
std::vector<std::pair<int64_t, std::string>> list_checkpoints(const std::string& run_dir);

}  // namespace ptune
