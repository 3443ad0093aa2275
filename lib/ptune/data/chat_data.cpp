// Chat records -> rendered text -> ids with assistant flags (see chat_data.h). The rendered
// text is cut at every assistant span's edges (and, for SentencePiece, which reads "<s>" as
// plain text, at the BOS/EOS strings) and each piece is encoded on its own, so no token
// straddles a mask boundary.
#include "ptune/data/chat_data.h"

#include <algorithm>

#include "ptune/core/error.h"
#include "ptune/data/tokenizer.h"

namespace ptune {

ChatSetup chat_setup(const Tokenizer& tok, ChatTemplate choice, const std::string& key) {
  ChatSetup s;
  const std::string& jinja = tok.chat_template();
  if (choice == ChatTemplate::kAuto) {
    auto family = recognise_chat_template(jinja);
    if (!family) {
      std::string names;
      for (const auto& c : kChatTemplateNames)
        if (c.value != ChatTemplate::kAuto)
          names += std::string(names.empty() ? "" : ", ") + c.name;
      usage_error(
          "{}: data.chat_template is auto, but the tokenizer '{}' has {}; set "
          "data.chat_template to one of {}",
          key, tok.path(),
          jinja.empty() ? "no chat_template" : "a chat_template ptune does not recognise", names);
    }
    choice = *family;
  }
  s.family = choice;
  s.tokens.bos = tok.bos_token();
  s.tokens.eos = tok.eos_token();
  if (choice == ChatTemplate::kChatml) s.tokens.default_system = chatml_default_system(jinja);
  s.stop_ids = tok.stop_ids();
  const std::string eot = end_of_turn(choice, s.tokens);
  auto id = tok.token_id(eot);
  if (!id && eot == tok.eos_token() && tok.eos_id() >= 0) id = tok.eos_id();
  if (!id)
    usage_error("{}: the {} chat template ends turns with '{}', which is not a token of '{}'", key,
                name_of(choice), eot, tok.path());
  if (std::find(s.stop_ids.begin(), s.stop_ids.end(), *id) == s.stop_ids.end())
    s.stop_ids.push_back(*id);
  return s;
}

std::string chat_messages(const nlohmann::json& j, std::vector<ChatMessage>* out) {
  const bool openai = j.contains("messages"), sharegpt = j.contains("conversations");
  if (openai == sharegpt)
    return openai ? "give either 'messages' or 'conversations', not both"
                  : "field 'messages' (OpenAI) or 'conversations' (ShareGPT) missing";
  const char* list = openai ? "messages" : "conversations";
  const char* role_key = openai ? "role" : "from";
  const char* text_key = openai ? "content" : "value";
  const nlohmann::json& m = j[list];
  if (!m.is_array()) return fmt::format("field '{}' must be a list, got {}", list, m.type_name());
  out->clear();
  for (size_t i = 0; i < m.size(); ++i) {
    const nlohmann::json& e = m[i];
    if (!e.is_object() || !e.contains(role_key) || !e[role_key].is_string() ||
        !e.contains(text_key) || !e[text_key].is_string())
      return fmt::format("{}[{}] must be an object with string fields '{}' and '{}'", list, i,
                         role_key, text_key);
    std::string role = e[role_key].get<std::string>();
    if (!openai) {  // ShareGPT's speaker names
      if (role == "human") role = "user";
      if (role == "gpt") role = "assistant";
    }
    out->push_back({role, e[text_key].get<std::string>()});
  }
  return "";
}

ChatIds tokenize_chat(const Tokenizer& tok, const ChatSetup& s,
                      const std::vector<ChatMessage>& messages, bool add_generation_prompt) {
  const RenderedChat rc = render_chat(s.family, messages, add_generation_prompt, s.tokens);
  // Cut points: span edges, and for SentencePiece the BOS/EOS strings (their own ids).
  struct Cut {
    size_t at;
    int32_t special = -1;  // id of the special string starting here, else -1
    size_t len = 0;
  };
  std::vector<Cut> cuts;
  for (const auto& [b, e] : rc.assistant_spans) cuts.push_back({b}), cuts.push_back({e});
  if (tok.is_sentencepiece()) {
    for (const auto& [str, id] :
         {std::pair{s.tokens.bos, tok.bos_id()}, std::pair{s.tokens.eos, tok.eos_id()}}) {
      if (str.empty() || id < 0) continue;
      for (size_t at = rc.text.find(str); at != std::string::npos; at = rc.text.find(str, at + 1))
        cuts.push_back({at, id, str.size()});
    }
  }
  cuts.push_back({rc.text.size()});
  std::stable_sort(cuts.begin(), cuts.end(),
                   [](const Cut& a, const Cut& b) { return a.at < b.at; });

  ChatIds out;
  size_t pos = 0, span = 0;
  auto turn_at = [&](size_t at) -> int32_t {  // the assistant message whose span holds byte `at`
    while (span < rc.assistant_spans.size() && rc.assistant_spans[span].second <= at) ++span;
    if (span < rc.assistant_spans.size() && rc.assistant_spans[span].first <= at)
      return static_cast<int32_t>(rc.message_of_span[span]);
    return -1;
  };
  for (const Cut& c : cuts) {
    if (c.at < pos) continue;  // inside a special string already emitted
    if (c.at > pos) {
      const int32_t turn = turn_at(pos);
      for (int32_t id : tok.encode(rc.text.substr(pos, c.at - pos))) {
        out.ids.push_back(id);
        out.turn.push_back(turn);
      }
      pos = c.at;
    }
    if (c.special >= 0) {
      out.ids.push_back(c.special);
      out.turn.push_back(turn_at(pos));
      pos += c.len;
    }
  }
  return out;
}

}  // namespace ptune
