// load_pretrained and parameter counting.
#include "ptune/model/pretrained.h"

#include "ptune/io/checkpoint.h"
#include "ptune/io/weights.h"
#include "ptune/model/weight_init.h"

namespace ptune {

Transformer load_pretrained(const std::string& dir, const ModelBuilder& b) {
  ModelConfig cfg = read_checkpoint_config(dir);
  Transformer model = nullptr;
  {
    SkipWeightInit loading;  // the checkpoint's weights replace the initial ones
    model = Transformer(cfg, b);
  }
  load_weights(*model, CheckpointWeights::open(dir), true);
  return model;
}

ParamCounts count_params(torch::nn::Module& m) {
  ParamCounts c;
  for (const auto& p : m.parameters()) {
    c.total += p.numel();
    if (p.requires_grad()) c.trainable += p.numel();
  }
  return c;
}

}  // namespace ptune
