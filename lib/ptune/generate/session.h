// `ptune generate` as a library object: a model (and adapter, MTP heads for speculative
// decoding) loaded once, then one completion per prompt, with the running totals a pipeline
// summary reports.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "ptune/generate/generator.h"
#include "ptune/load/load_model.h"

namespace ptune {

struct GenerateCommand {
  std::string model, adapter, tokenizer;  // as load_model
  bool speculative = false;               // draft with the model's MTP heads
  GenerateOptions gen;                    // stop_ids are set from the tokenizer
};

struct Completion {
  std::string text;  // the decoded new tokens
  GenerateResult result;
};

class GenerateSession {
 public:
  // Loads the model; usage errors for bad options and for speculative without MTP heads.
  explicit GenerateSession(GenerateCommand c);
  // BOS + the prompt's tokens, then generation.
  Completion complete(const std::string& prompt);
  bool speculative() const { return heads_ != nullptr; }
  int64_t prompts() const { return prompts_; }
  // Sums over the prompts so far, rates finished (finish_stats).
  GenerateStats total() const;

 private:
  GenerateCommand c_;
  LoadedModel m_;
  MtpHeads heads_;
  GenerateStats total_;
  int64_t prompts_ = 0;
};

}  // namespace ptune
