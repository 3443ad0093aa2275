// `ptune generate` as a library object: a model (and adapter, MTP heads for speculative
// decoding) loaded once, then one completion per prompt, with the running totals a pipeline
// summary reports.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "ptune/data/chat_data.h"
#include "ptune/generate/generator.h"
#include "ptune/load/load_model.h"

namespace ptune {

struct GenerateCommand {
  std::string model, adapter, tokenizer;  // as load_model
  bool speculative = false;               // draft with the model's MTP heads
  // --chat: each prompt is a user message (or a JSON {"messages": [...]} record) rendered by
  // the chat template with its generation prompt; generation stops at the end of the turn.
  bool chat = false;
  ChatTemplate chat_template = ChatTemplate::kAuto;
  GenerateOptions gen;  // stop_ids are set from the tokenizer
};

struct Completion {
  std::string text;  // the decoded new tokens
  GenerateResult result;
};

class GenerateSession {
 public:
  // Loads the model; usage errors for bad options and for speculative without MTP heads.
  explicit GenerateSession(GenerateCommand c);
  // BOS + the prompt's tokens (or the rendered conversation, with --chat), then generation.
  Completion complete(const std::string& prompt);
  bool speculative() const { return heads_ != nullptr; }
  int64_t prompts() const { return prompts_; }
  // Sums over the prompts so far, rates finished (finish_stats).
  GenerateStats total() const;

 private:
  GenerateCommand c_;
  LoadedModel m_;
  MtpHeads heads_;
  std::optional<ChatSetup> chat_;
  GenerateStats total_;
  int64_t prompts_ = 0;
};

}  // namespace ptune
