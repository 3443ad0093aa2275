// Generation session (see session.h).
#include "ptune/generate/session.h"

#include <torch/torch.h>

#include "ptune/config/size_limits.h"
#include "ptune/core/error.h"
#include "ptune/core/json.h"
#include "ptune/core/log.h"
#include "ptune/generate/speculative.h"
#include "ptune/load/memory_estimate.h"

namespace ptune {

namespace {

GenerateCommand checked(GenerateCommand c) {
  if (c.gen.sampling.top_p <= 0) usage_error("generate: --top-p must be in (0, 1], got 0");
  if (c.model.empty() && c.adapter.empty())
    usage_error("generate: pass --model DIR (and/or --adapter DIR)");
  if (c.gen.max_new_tokens > kMaxPositions)
    usage_error("generate: --max-new-tokens must be <= {}, got {}; {}", kMaxPositions,
                c.gen.max_new_tokens, kMaxPositionsWhy);
  return c;
}

}  // namespace

GenerateSession::GenerateSession(GenerateCommand c)
    : c_(checked(std::move(c))), m_(load_model("generate", c_.model, c_.adapter, c_.tokenizer)) {
  check_memory(inference_memory(m_.pm.model->config(), 1, 1, c_.gen.max_new_tokens), torch::kCPU,
               "generate", "lower --max-new-tokens");
  if (c_.speculative) {
    if (m_.heads_dir.empty())
      usage_error(
          "generate: --speculative mtp needs MTP heads, but '{}' has no mtp_heads.safetensors "
          "+ mtp_config.json (train with an mtp: recipe section)",
          m_.model_dir);
    heads_ = load_heads(m_);
    PTUNE_INFO("speculative decoding with {} {} MTP heads", heads_->n_heads(),
               name_of(heads_->style()));
  }
  c_.gen.stop_ids = m_.tok.stop_ids();
  if (c_.chat) {
    chat_ = chat_setup(m_.tok, c_.chat_template, "generate --chat");
    c_.gen.stop_ids = chat_->stop_ids;
  }
}

Completion GenerateSession::complete(const std::string& prompt) {
  torch::NoGradGuard no_grad;
  std::vector<int64_t> ids;
  if (chat_) {
    std::vector<ChatMessage> messages{{"user", prompt}};
    if (!prompt.empty() && prompt.front() == '{') {  // a JSONL record of a conversation
      auto j = parse_json_or_discarded(prompt);
      if (j.is_discarded() || !j.is_object())
        usage_error("generate --chat: prompt {} is not a JSON object", prompts_ + 1);
      if (auto err = chat_messages(j, &messages); !err.empty())
        usage_error("generate --chat: prompt {}: {}", prompts_ + 1, err);
    }
    for (int32_t t : tokenize_chat(m_.tok, *chat_, messages, true).ids) ids.push_back(t);
  } else {
    if (m_.tok.bos_id() >= 0) ids.push_back(m_.tok.bos_id());
    for (int32_t t : m_.tok.encode(prompt)) ids.push_back(t);
  }
  Transformer& model = m_.pm.model;
  Completion out;
  out.result =
      heads_ ? generate_speculative(model, *heads_, ids, c_.gen) : generate(model, ids, c_.gen);
  out.text =
      m_.tok.decode(std::vector<int32_t>(out.result.tokens.begin(), out.result.tokens.end()));
  add_stats(total_, out.result.stats);
  ++prompts_;
  return out;
}

GenerateStats GenerateSession::total() const {
  GenerateStats t = total_;
  finish_stats(t);
  return t;
}

}  // namespace ptune
