// Per-head evaluation of MTP heads: for head k (k = 1..K), mean cross-entropy and top-1
// accuracy of its prediction of token t+1+k over the eval data's targets shifted by k.
#pragma once

#include <vector>

#include "ptune/data/dataset.h"
#include "ptune/eval/evaluator.h"
#include "ptune/mtp/heads.h"

namespace ptune {

struct HeadEval {
  int64_t head = 0;  // k
  double loss = 0.0;
  double accuracy = 0.0;
  int64_t tokens = 0;
};

// `args` carries method forward arguments for a batch size (prefix tuning); may be empty.
std::vector<HeadEval> evaluate_heads(Transformer& model, MtpHeadsImpl& heads, const Dataset& data,
                                     int64_t pad_id, const EvalOptions& o);

}  // namespace ptune
