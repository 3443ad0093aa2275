// Loading checkpoint weights into a Transformer (or any module with HF-named parameters).
#pragma once

#include <torch/nn/module.h>

#include "ptune/io/checkpoint.h"

namespace ptune {

struct LoadReport {
  std::vector<std::string> missing;     // parameters with no tensor in the checkpoint
  std::vector<std::string> unexpected;  // checkpoint tensors with no parameter
};

// Copies (or, when dtype matches and `zero_copy`, points parameters at the mapped bytes of)
// each checkpoint tensor into the parameter of the same name, casting to the parameter's
// dtype. Shape mismatch: Runtime error "tensor 'x' has wrong shape; expected [..], got [..]".
// With strict, missing parameters (other than those in `allow_missing` prefixes) are errors.
LoadReport load_weights(torch::nn::Module& m, const CheckpointWeights& w, bool strict,
                        const std::vector<std::string>& allow_missing = {});

}  // namespace ptune
