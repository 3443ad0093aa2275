// Native renderers for the chat templates that common model families ship in
// tokenizer_config.json ("chat_template"), byte-identical to transformers' apply_chat_template
// on plain system/user/assistant chats (tests/data/test_chat_template.cpp proves it against
// python3-jinja2 on the real template strings in tests/data/fixtures/chat_templates/). Tool
// calls, tool messages and the templates' other extras are out of scope.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "ptune/config/chat_format.h"

namespace ptune {

struct ChatMessage {
  std::string role;     // "system", "user" or "assistant"
  std::string content;  // e.g. "What is 2+2?"
};

// The template variables besides the messages.
struct ChatTokens {
  std::string bos;  // bos_token, e.g. "<s>" or "<|begin_of_text|>" (llama3*, llama2, mistral)
  std::string eos;  // eos_token, e.g. "</s>" (llama2, zephyr, mistral)
  // llama3's "Today Date:". The Llama 3.2 template reads the clock through strftime_now when no
  // date_string is passed; ptune never does, so pass today's "%d %b %Y" to match HF at
  // inference and keep the default for reproducible training data.
  std::string date_string = "26 Jul 2024";
  // chatml: the system turn inserted when the conversation does not open with one (SmolLM2's
  // "You are a helpful AI assistant named SmolLM, trained by Hugging Face", Qwen2.5's "You are
  // Qwen, ..."); nullopt = none (OpenHermes-style ChatML). chatml_default_system() reads it off
  // a checkpoint's template.
  std::optional<std::string> default_system;
};

// One rendered conversation. assistant_spans[i] = [begin, end) bytes of `text` that the model
// is trained to produce for assistant message message_of_span[i]: its content as the template
// writes it (trimmed where the template trims) through its end-of-turn marker:
//   chatml   content + "<|im_end|>"         (not the "\n" after it)
//   llama3*  trim(content) + "<|eot_id|>"
//   llama2   strip(content) + " " + eos     (the template's space before eos included)
//   zephyr   content + eos                  (not the "\n" after it)
//   mistral  content + eos
// The role header / separator before the content is prompt, as in HF's {% generation %} blocks
// and torchtune's masks. SentencePiece glues the separator space to the first content token
// ("▁Hello"), so count a token as assistant when its bytes overlap a span.
struct RenderedChat {
  std::string text;
  std::vector<std::pair<size_t, size_t>> assistant_spans;
  std::vector<size_t> message_of_span;  // index into the messages
};

// Renders `messages` as family `t` does. add_generation_prompt appends the assistant header
// (llama2 and mistral have none: their user turn ends in "[/INST]"). Usage errors name the
// message (1-based) for an empty conversation, a role outside system/user/assistant, a
// role order the template rejects (its raise_exception) or would silently drop, and a missing
// bos/eos the family needs.
RenderedChat render_chat(ChatTemplate t, const std::vector<ChatMessage>& messages,
                         bool add_generation_prompt, const ChatTokens& tokens);

// The family of a checkpoint's chat_template string, or nullopt when it is none of the known
// ones: every output-producing statement of the family's real template must be present after
// normalising the template as Jinja lexes it (whitespace control applied, whitespace inside
// tags dropped, string literals compared by value).
std::optional<ChatTemplate> recognise_chat_template(const std::string& jinja);

// The default system text of a recognised chatml template (SmolLM2, Qwen2.x), or nullopt.
std::optional<std::string> chatml_default_system(const std::string& jinja);

// The end-of-turn token string of the family ("<|im_end|>", "<|eot_id|>", or eos), for stop ids.
std::string end_of_turn(ChatTemplate t, const ChatTokens& tokens);

}  // namespace ptune
