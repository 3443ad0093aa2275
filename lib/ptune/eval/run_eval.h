// `ptune eval`: a checkpoint (or a base with an adapter) on a dataset, with the per-head
// loss and accuracy of its MTP heads when it has them. With a recipe, the run's final/ (its
// adapter on the recipe's base for a PEFT run), data.eval, seq_len and add_bos are the defaults.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "ptune/config/recipe.h"
#include "ptune/eval/evaluator.h"
#include "ptune/eval/mtp_eval.h"

namespace ptune {

struct EvalCommand {
  std::string model, adapter, tokenizer;  // checkpoint dir, adapter dir, tokenizer file
  std::string data;                       // data file ("-" = stdin)
  DataFormat format = DataFormat::kText;
  ChatTemplate chat_template = ChatTemplate::kAuto;  // --format chat: scores assistant turns
  std::string config;                                // recipe file, or ""
  std::vector<std::string> overrides;                // --set for the recipe
  int64_t seq_len = 0;  // 0 = the recipe's, else max_position_embeddings
  int64_t batch_size = 8;
  // Called for each example in order when set (--per-example); the heads are then skipped.
  std::function<void(int64_t index, const EvalResult&)> per_example;
};

struct EvalReport {
  EvalResult result;
  std::vector<HeadEval> heads;  // empty without MTP heads
};

EvalReport run_eval(const EvalCommand& c);

}  // namespace ptune
