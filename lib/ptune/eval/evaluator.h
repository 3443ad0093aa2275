// Evaluation metrics over a dataset: mean NLL per predicted token, perplexity, top-1
// next-token accuracy, token count; per example when asked.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "ptune/data/dataset.h"
#include "ptune/model/transformer.h"

namespace ptune {

struct EvalResult {
  double loss = 0.0;        // sum NLL / tokens
  double perplexity = 0.0;  // exp(loss)
  double accuracy = 0.0;    // argmax == target, over predicted tokens
  int64_t tokens = 0;       // predicted tokens
  int64_t examples = 0;
};

struct EvalOptions {
  int64_t batch_size = 8;
  int64_t max_batches = 0;  // 0 = all
  // Called once per example, in dataset order, when set (ptune eval --per-example).
  std::function<void(int64_t index, const EvalResult&)> per_example;
  // A distributed run: this rank scores its rows of each batch (shard_rows), and `reduce` sums
  // the totals over the ranks, so every rank returns the metrics of the whole set.
  int rank = 0;
  int world = 1;
  std::function<void(std::vector<double>&)> reduce;
};

// How to get logits (B, T, V) fp32 for a batch's input ids (B, T) and packed documents'
// positions (B, T) or undefined (ForwardArgs::positions), both on the CPU.
using LogitsFn =
    std::function<torch::Tensor(const torch::Tensor& input_ids, const torch::Tensor& positions)>;

EvalResult evaluate_logits(const LogitsFn& logits_fn, const Dataset& data, int64_t pad_id,
                           const EvalOptions& o);
EvalResult evaluate(Transformer& model, const Dataset& data, int64_t pad_id, const EvalOptions& o);

}  // namespace ptune
