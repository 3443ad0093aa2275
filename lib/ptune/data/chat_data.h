// Conversations as training examples: a JSONL record's messages (OpenAI "messages" or
// ShareGPT "conversations"), rendered by the model's chat template family, tokenized turn by
// turn (as torchtune does: each span of the rendered text on its own, special tokens as their
// ids) with a flag per token saying whether an assistant turn produced it.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "ptune/config/chat_format.h"
#include "ptune/data/chat_template.h"

namespace ptune {

class Tokenizer;

// A template family with its variables, resolved for one tokenizer.
struct ChatSetup {
  ChatTemplate family = ChatTemplate::kChatml;
  ChatTokens tokens;
  std::vector<int64_t> stop_ids;  // the tokenizer's and the family's end of turn
};

// `choice` kAuto: the family tok.chat_template() is recognised as; otherwise a Usage error
// naming `key`, the tokenizer and the families to choose from.
ChatSetup chat_setup(const Tokenizer& tok, ChatTemplate choice, const std::string& key);

// The messages of a record: {"messages": [{"role", "content"}]} or {"conversations":
// [{"from", "value"}]} (from: system, human/user, gpt/assistant). Returns "" or what is wrong.
std::string chat_messages(const nlohmann::json& record, std::vector<ChatMessage>* out);

struct ChatIds {
  std::vector<int32_t> ids;
  std::vector<int32_t> turn;  // per token: the assistant message that produced it, or -1
};

// The ids of `messages` rendered by `s` (with the assistant header at the end when
// add_generation_prompt).
ChatIds tokenize_chat(const Tokenizer& tok, const ChatSetup& s,
                      const std::vector<ChatMessage>& messages, bool add_generation_prompt);

}  // namespace ptune
