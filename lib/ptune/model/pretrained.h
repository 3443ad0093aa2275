// Building a Transformer from an HF-layout checkpoint dir (config.json + safetensors).
#pragma once

#include <string>

#include "ptune/model/transformer.h"

namespace ptune {

// Reads DIR/config.json, builds the model with `b`, loads every base weight (strict).
Transformer load_pretrained(const std::string& dir, const ModelBuilder& b = {});

// Parameter counts of a module: total and requires_grad.
struct ParamCounts {
  int64_t total = 0, trainable = 0;
};
ParamCounts count_params(torch::nn::Module& m);

}  // namespace ptune
