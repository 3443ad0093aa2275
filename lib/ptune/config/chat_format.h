// Chat data settings (recipe data.chat_template, data.train_on): which template family renders
// a conversation (data/chat_template.h) and which of its tokens are trained.
#pragma once

#include "ptune/core/choice.h"

namespace ptune {

// A family of chat templates. llama3 is the 3.1/3.2/3.3 format with the "Cutting Knowledge
// Date" system header; llama3.0 is Meta-Llama-3-*-Instruct's original one, which has none.
// auto: the family the tokenizer's own chat_template is recognised as (never rendered).
enum class ChatTemplate { kAuto, kChatml, kLlama3, kLlama3_0, kLlama2, kZephyr, kMistral };
inline constexpr Choice<ChatTemplate> kChatTemplateNames[] = {
    {ChatTemplate::kAuto, "auto"},      {ChatTemplate::kChatml, "chatml"},
    {ChatTemplate::kLlama3, "llama3"},  {ChatTemplate::kLlama3_0, "llama3.0"},
    {ChatTemplate::kLlama2, "llama2"},  {ChatTemplate::kZephyr, "zephyr"},
    {ChatTemplate::kMistral, "mistral"}};
constexpr const auto& choices(ChatTemplate) {
  return kChatTemplateNames;
}

// Loss masks of chat data (torchtune's masking strategies): every assistant turn, every
// token, or the last assistant turn only. An assistant turn's end-of-turn token is trained.
enum class TrainOn { kAssistant, kAll, kLast };
inline constexpr Choice<TrainOn> kTrainOnNames[] = {
    {TrainOn::kAssistant, "assistant"}, {TrainOn::kAll, "all"}, {TrainOn::kLast, "last"}};
constexpr const auto& choices(TrainOn) {
  return kTrainOnNames;
}

struct ChatOptions {
  ChatTemplate chat_template = ChatTemplate::kAuto;
  TrainOn train_on = TrainOn::kAssistant;
};

}  // namespace ptune
