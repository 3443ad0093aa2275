// Chat templates: ptune's native renderers against python3-jinja2 rendering the real template
// strings (tests/data/fixtures/chat_templates/, oracle tests/reference/render_chat.py) byte for
// byte, the assistant spans, the errors where the templates raise, and recognition.
#include "ptune/data/chat_template.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "error_helpers.h"
#include "test_util.h"

namespace ptune {
namespace {

using Chat = std::vector<ChatMessage>;
const std::string kFixtures =
    std::string(PTUNE_SOURCE_DIR) + "/tests/data/fixtures/chat_templates/";
const std::string kSmolSystem =
    "You are a helpful AI assistant named SmolLM, trained by Hugging Face";
const std::string kQwenSystem =
    "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.";

ChatTokens toks(std::string bos, std::string eos, std::string date = "26 Jul 2024") {
  ChatTokens t;
  t.bos = std::move(bos);
  t.eos = std::move(eos);
  t.date_string = std::move(date);
  return t;
}

struct Fixture {
  const char* file;
  ChatTemplate family;
  ChatTokens tokens;
};

std::vector<Fixture> fixtures() {
  ChatTokens sp = toks("<s>", "</s>");
  ChatTokens l3 = toks("<|begin_of_text|>", "<|eot_id|>", "07 Mar 2025");
  ChatTokens smol, qwen;
  smol.default_system = kSmolSystem;
  qwen.default_system = kQwenSystem;
  return {{"chatml.jinja", ChatTemplate::kChatml, {}},
          {"chatml_smollm2.jinja", ChatTemplate::kChatml, smol},
          {"chatml_qwen2_5.jinja", ChatTemplate::kChatml, qwen},
          {"llama3.jinja", ChatTemplate::kLlama3, l3},
          {"llama3_0.jinja", ChatTemplate::kLlama3_0, l3},
          {"llama2.jinja", ChatTemplate::kLlama2, sp},
          {"zephyr.jinja", ChatTemplate::kZephyr, sp},
          {"mistral.jinja", ChatTemplate::kMistral, sp}};
}

bool alternating(ChatTemplate t) {
  return t == ChatTemplate::kLlama2 || t == ChatTemplate::kMistral;
}

// Conversations every template renders (user/assistant alternate after an optional system).
std::vector<Chat> alternating_chats() {
  const std::string tricky =
      "line 1\nline 2\n\n{{ not_a_variable }} {% if x %}y{% endif %} {# no comment #} {}"
      " 'single' \"double\" back\\slash \\n <|im_end|> </s> [INST]";
  return {
      {{"user", "Hello"}},
      {{"system", "You are terse."}, {"user", "Hi"}},
      {{"user", "2+2?"}, {"assistant", "4"}, {"user", "And 3+3?"}, {"assistant", "6"}},
      {{"system", "Be kind."}, {"user", "Hi"}, {"assistant", "Hello!"}, {"user", "Bye"}},
      {{"system", "Grüße 🌍"}, {"user", "日本語で？ naïve — ok"}, {"assistant", "はい。✓"}},
      {{"user", tricky}, {"assistant", tricky}},
      {{"user", ""}, {"assistant", ""}},
      {{"system", ""}, {"user", ""}, {"assistant", ""}, {"user", ""}},
      {{"system", "  padded system \n"}, {"user", "\t hi \n"}, {"assistant", "\n answer \n\n"}},
      // Python's strip() takes U+3000, U+00A0, U+2003 and U+001F; U+200B is no whitespace.
      {{"system", "\u3000sys\u00a0"}, {"user", "\u2003q\x1f"}, {"assistant", "\u200ba\u200b "}},
  };
}

// Conversations the permissive templates render and llama2/mistral refuse (their
// raise_exception): ptune must refuse them too.
std::vector<Chat> free_order_chats() {
  return {
      {{"user", "a"}, {"user", "b"}, {"assistant", "c"}},
      {{"assistant", "I start"}, {"user", "ok"}},
      {{"user", "q"}, {"assistant", "a"}, {"system", "late system"}, {"user", "q2"}},
      {{"system", "s1"}, {"system", "s2"}, {"user", "q"}},
  };
}

nlohmann::json to_json(const Chat& chat, bool gen, const ChatTokens& tk) {
  nlohmann::json m = nlohmann::json::array();
  for (const auto& msg : chat) m.push_back({{"role", msg.role}, {"content", msg.content}});
  return {{"messages", m},
          {"add_generation_prompt", gen},
          {"bos_token", tk.bos},
          {"eos_token", tk.eos},
          {"date_string", tk.date_string}};
}

// The oracle's results for `cases` on one fixture: {"text": ...} or {"error": ...} each.
nlohmann::json oracle(const std::string& file, const nlohmann::json& cases) {
  test::TempDir dir;
  test::write_text(dir / "in.json", cases.dump());
  auto r = test::run_shell(std::string(PTUNE_PYTHON) + " " + PTUNE_SOURCE_DIR +
                           "/tests/reference/render_chat.py " + kFixtures + file + " " +
                           (dir / "in.json") + " " + (dir / "out.json"));
  EXPECT_EQ(r.exit_code, 0) << r.err << "\n(the oracle needs python3-jinja2 for " PTUNE_PYTHON
                            << ")";
  if (r.exit_code != 0) return nlohmann::json::array();
  return nlohmann::json::parse(test::read_text(dir / "out.json"));
}

// What `family` trains on for assistant content `c` (see RenderedChat), computed independently.
std::string trained_part(ChatTemplate t, const std::string& c, const ChatTokens& tk) {
  switch (t) {
    case ChatTemplate::kChatml:
      return c + "<|im_end|>";
    case ChatTemplate::kZephyr:
    case ChatTemplate::kMistral:
      return c + tk.eos;
    default:
      return c;  // trimmed: checked as a substring below
  }
}

void expect_spans(const Fixture& f, const Chat& chat, const RenderedChat& out) {
  std::vector<size_t> assistants;
  for (size_t i = 0; i < chat.size(); ++i)
    if (chat[i].role == "assistant") assistants.push_back(i);
  ASSERT_EQ(out.assistant_spans.size(), assistants.size());
  ASSERT_EQ(out.message_of_span, assistants);
  const std::string marker =
      f.family == ChatTemplate::kLlama2 ? " " + f.tokens.eos : end_of_turn(f.family, f.tokens);
  size_t last_end = 0;
  for (size_t k = 0; k < assistants.size(); ++k) {
    auto [b, e] = out.assistant_spans[k];
    ASSERT_LE(last_end, b);
    ASSERT_LE(e, out.text.size());
    last_end = e;
    const std::string span = out.text.substr(b, e - b);
    const std::string& content = chat[assistants[k]].content;
    ASSERT_GE(span.size(), marker.size());
    EXPECT_EQ(span.substr(span.size() - marker.size()), marker) << span;
    const std::string body = span.substr(0, span.size() - marker.size());
    if (f.family == ChatTemplate::kChatml || f.family == ChatTemplate::kZephyr ||
        f.family == ChatTemplate::kMistral)
      EXPECT_EQ(span, trained_part(f.family, content, f.tokens));
    else  // llama2 / llama3*: the content with Python's strip() applied
      EXPECT_NE(content.find(body), std::string::npos) << "span " << span;
  }
}

TEST(ChatTemplate, RendersByteIdenticalToJinjaOnTheRealTemplates) {
  for (const auto& f : fixtures()) {
    SCOPED_TRACE(f.file);
    std::vector<Chat> chats = alternating_chats();
    for (const auto& c : free_order_chats()) chats.push_back(c);
    nlohmann::json cases = nlohmann::json::array();
    for (const auto& chat : chats)
      for (bool gen : {false, true}) cases.push_back(to_json(chat, gen, f.tokens));
    const nlohmann::json want = oracle(f.file, cases);
    ASSERT_EQ(want.size(), cases.size());
    size_t k = 0, compared = 0;
    for (const auto& chat : chats) {
      for (bool gen : {false, true}) {
        SCOPED_TRACE("case " + cases[k].dump());
        const auto& w = want[k++];
        if (w.contains("error")) {  // the template raises: ptune refuses with a usage error
          EXPECT_TRUE(alternating(f.family)) << w["error"];
          test::error_of([&] { render_chat(f.family, chat, gen, f.tokens); }, ErrorKind::Usage);
          continue;
        }
        RenderedChat out = render_chat(f.family, chat, gen, f.tokens);
        EXPECT_EQ(out.text, w["text"].get<std::string>());
        expect_spans(f, chat, out);
        ++compared;
      }
    }
    EXPECT_GE(compared, 2 * alternating_chats().size());
  }
}

TEST(ChatTemplate, SpansCoverExactlyTheAssistantContentAndEndMarker) {
  const Chat chat = {{"system", "S"}, {"user", "Q"}, {"assistant", "\u3000 A \u00a0"}};
  struct Case {
    ChatTemplate t;
    ChatTokens tk;
    std::string span;
  };
  ChatTokens sp = toks("<s>", "</s>");
  ChatTokens l3 = toks("<|begin_of_text|>", "<|eot_id|>");
  for (const auto& c : std::vector<Case>{{ChatTemplate::kChatml, {}, "\u3000 A \u00a0<|im_end|>"},
                                         {ChatTemplate::kLlama3, l3, "A<|eot_id|>"},
                                         {ChatTemplate::kLlama3_0, l3, "A<|eot_id|>"},
                                         {ChatTemplate::kLlama2, sp, "A </s>"},
                                         {ChatTemplate::kZephyr, sp, "\u3000 A \u00a0</s>"},
                                         {ChatTemplate::kMistral, sp, "\u3000 A \u00a0</s>"}}) {
    SCOPED_TRACE(name_of(c.t));
    RenderedChat out = render_chat(c.t, chat, false, c.tk);
    ASSERT_EQ(out.assistant_spans.size(), 1u);
    EXPECT_EQ(out.message_of_span, std::vector<size_t>{2});
    auto [b, e] = out.assistant_spans[0];
    EXPECT_EQ(out.text.substr(b, e - b), c.span);
    // After the marker only the template's newline (chatml, zephyr) or nothing.
    const bool newline_after = c.t == ChatTemplate::kChatml || c.t == ChatTemplate::kZephyr;
    EXPECT_EQ(out.text.substr(e), newline_after ? "\n" : "");
  }
  // The separator before the content is prompt: "[/INST] " ends before the span.
  RenderedChat l2 = render_chat(ChatTemplate::kLlama2, {{"user", "Q"}, {"assistant", "A"}}, false,
                                toks("<s>", "</s>"));
  EXPECT_EQ(l2.text, "<s>[INST] Q [/INST] A </s>");
  EXPECT_EQ(l2.assistant_spans[0], (std::pair<size_t, size_t>{l2.text.find("A "), l2.text.size()}));
}

TEST(ChatTemplate, ErrorsSayWhatIsWrong) {
  ChatTokens sp = toks("<s>", "</s>");
  auto err = [&](ChatTemplate t, const Chat& chat, const ChatTokens& tk) {
    return test::error_of([&] { render_chat(t, chat, true, tk); }, ErrorKind::Usage);
  };
  EXPECT_CONTAINS(
      err(ChatTemplate::kLlama2, {{"user", "q"}, {"assistant", "a"}, {"tool", "{}"}}, sp),
      "message 3: role 'tool' is not supported by the llama2 template; expected "
      "system, user or assistant");
  EXPECT_CONTAINS(err(ChatTemplate::kChatml, {}, sp), "empty conversation");
  EXPECT_CONTAINS(err(ChatTemplate::kMistral, {{"user", "a"}, {"user", "b"}}, sp),
                  "message 2: role 'user' breaks the mistral template's alternation; expected "
                  "'assistant'");
  EXPECT_CONTAINS(err(ChatTemplate::kLlama2, {{"assistant", "a"}}, sp),
                  "message 1: role 'assistant' breaks the llama2 template's alternation; "
                  "expected 'user'");
  // Jinja does not raise here, it silently drops the system message: ptune refuses.
  EXPECT_CONTAINS(err(ChatTemplate::kLlama2, {{"user", "q"}, {"system", "s"}}, sp),
                  "message 2: the llama2 template accepts a system message only as the first");
  EXPECT_CONTAINS(err(ChatTemplate::kMistral, {{"system", "s"}}, sp),
                  "message 1: the mistral template drops a system message that no user message "
                  "follows");
  EXPECT_CONTAINS(err(ChatTemplate::kZephyr, {{"user", "q"}}, toks("<s>", "")),
                  "the zephyr chat template needs the tokenizer's eos token");
  EXPECT_CONTAINS(err(ChatTemplate::kLlama3, {{"user", "q"}}, ChatTokens{}),
                  "the llama3 chat template needs the tokenizer's bos token");
  EXPECT_CONTAINS(
      test::error_of([] { end_of_turn(ChatTemplate::kLlama2, ChatTokens{}); }, ErrorKind::Usage),
      "needs the tokenizer's eos token");
}

// Where ptune is stricter than Jinja (a message the template would drop), the oracle indeed
// renders without it: the refusal loses nothing HF would have kept.
TEST(ChatTemplate, RefusesOnlyWhatTheTemplateWouldDrop) {
  ChatTokens sp = toks("<s>", "</s>");
  nlohmann::json cases = nlohmann::json::array();
  cases.push_back(to_json({{"system", "only"}}, true, sp));
  cases.push_back(to_json({{"user", "q"}, {"system", "dropped"}}, true, sp));
  const nlohmann::json l2 = oracle("llama2.jinja", cases);
  ASSERT_EQ(l2.size(), 2u);
  EXPECT_EQ(l2[0].value("text", "?"), "");
  EXPECT_EQ(l2[1].value("text", "?"), "<s>[INST] q [/INST]");
  const nlohmann::json mi = oracle("mistral.jinja", nlohmann::json::array({cases[0]}));
  ASSERT_EQ(mi.size(), 1u);
  EXPECT_EQ(mi[0].value("text", "?"), "<s>");
}

TEST(ChatTemplate, EndOfTurnPerFamily) {
  ChatTokens tk = toks("<s>", "</s>");
  EXPECT_EQ(end_of_turn(ChatTemplate::kChatml, tk), "<|im_end|>");
  EXPECT_EQ(end_of_turn(ChatTemplate::kLlama3, tk), "<|eot_id|>");
  EXPECT_EQ(end_of_turn(ChatTemplate::kLlama3_0, tk), "<|eot_id|>");
  EXPECT_EQ(end_of_turn(ChatTemplate::kLlama2, tk), "</s>");
  EXPECT_EQ(end_of_turn(ChatTemplate::kZephyr, tk), "</s>");
  EXPECT_EQ(end_of_turn(ChatTemplate::kMistral, tk), "</s>");
  EXPECT_EQ(parse_choice<ChatTemplate>("llama3.0"), ChatTemplate::kLlama3_0);
  EXPECT_EQ(choice_names<ChatTemplate>(),
            "auto, chatml, llama3, llama3.0, llama2, zephyr, mistral");
}

TEST(ChatTemplate, RecognisesEveryFixtureAndNothingElse) {
  for (const auto& f : fixtures()) {
    SCOPED_TRACE(f.file);
    const std::string jinja = test::read_text(kFixtures + f.file);
    EXPECT_EQ(recognise_chat_template(jinja), f.family);
    EXPECT_EQ(chatml_default_system(jinja), f.tokens.default_system);
  }
  // The same templates written differently still render alike, so still recognised: JSON's
  // "\n" escapes decoded or not, other whitespace inside tags, other quotes.
  std::string hermes = test::read_text(kFixtures + "chatml.jinja");
  for (size_t at; (at = hermes.find("\\n")) != std::string::npos;) hermes.replace(at, 2, "\n");
  EXPECT_EQ(recognise_chat_template(hermes), ChatTemplate::kChatml);
  EXPECT_EQ(recognise_chat_template(
                "{% set loop_messages = messages %}{% for message in loop_messages %}{% set "
                "content = \"<|start_header_id|>\" + message[\"role\"] + "
                "'<|end_header_id|>\\n\\n'+message['content']|trim + '<|eot_id|>' %}{% if "
                "loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content "
                "}}{% endfor %}{% if add_generation_prompt %}{{ "
                "'<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}"),
            ChatTemplate::kLlama3_0);

  const std::vector<std::string> unrelated = {
      "",
      "{{ messages }}",
      // Mistral-7B-Instruct-v0.1's 2023 template: no system, no space before [INST].
      "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != "
      "(loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate "
      "user/assistant/user/assistant/...') }}{% endif %}{% if message['role'] == 'user' %}{{ "
      "'[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' "
      "%}{{ message['content'] + eos_token}}{% else %}{{ raise_exception('Only user and "
      "assistant roles are supported!') }}{% endif %}{% endfor %}",
      // google/gemma-7b-it
      "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role "
      "not supported') }}{% endif %}{% for message in messages %}{% if (message['role'] == "
      "'assistant') %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}{% endif "
      "%}{{ '<start_of_turn>' + role + '\\n' + message['content'] | trim + '<end_of_turn>\\n' "
      "}}{% endfor %}{% if add_generation_prompt %}{{'<start_of_turn>model\\n'}}{% endif %}",
      // internlm2-chat: ChatML plus bos/eos
      "{% if messages[0]['role'] == 'user' or messages[0]['role'] == 'system' %}{{ bos_token }}{% "
      "endif %}{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + "
      "message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ "
      "'<|im_start|>assistant\\n' }}{% elif messages[-1]['role'] == 'assistant' %}{{ eos_token "
      "}}{% endif %}",
      // Qwen1.5-Chat: no <|im_end|> after a final assistant turn
      "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ "
      "'<|im_start|>system\\nYou are a helpful assistant<|im_end|>\\n' }}{% endif "
      "%}{{'<|im_start|>' + message['role'] + '\\n' + message['content']}}{% if (loop.last and "
      "add_generation_prompt) or not loop.last %}{{ '<|im_end|>' + '\\n'}}{% endif %}{% endfor "
      "%}{% if add_generation_prompt and messages[-1]['role'] != 'assistant' %}{{ "
      "'<|im_start|>assistant\\n' }}{% endif %}",
  };
  for (const auto& u : unrelated) {
    EXPECT_FALSE(recognise_chat_template(u).has_value()) << u;
    EXPECT_FALSE(chatml_default_system(u).has_value()) << u;
  }
  // One changed literal is another template.
  std::string llama2 = test::read_text(kFixtures + "llama2.jinja");
  llama2.replace(llama2.find("' [/INST]'"), 10, "'[/INST]'");
  EXPECT_FALSE(recognise_chat_template(llama2).has_value());
}

}  // namespace
}  // namespace ptune
