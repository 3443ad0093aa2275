// Native chat-template renderers, one function per family, each a transcription of the real
// template's plain-chat path (tests/data/fixtures/chat_templates/), and the recogniser that
// maps a checkpoint's Jinja string to a family. Jinja's trim filter and str.strip() are Python's
// str.strip(): they also strip Unicode whitespace (U+00A0, U+3000, ...), so py_strip does too.
#include "ptune/data/chat_template.h"

#include <cstdint>
#include <string_view>

#include "ptune/core/error.h"

namespace ptune {
namespace {

// ---- Python's str.strip() on UTF-8 ----

// Python's str.isspace(): the Zs spaces and the bidi classes B, S and WS (so U+001C-001F and
// U+0085 too, but not U+200B).
bool is_py_space(uint32_t c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 ||
         c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
         c == 0x205F || c == 0x3000;
}

// The code point encoded at s[i..]: its length in bytes, or 0 when the bytes are not UTF-8.
size_t decode_utf8(std::string_view s, size_t i, uint32_t* cp) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = b(i);
  size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
  if (n == 0 || i + n > s.size()) return 0;
  uint32_t v = n == 1 ? c : c & (0x7F >> n);
  for (size_t k = 1; k < n; ++k) {
    if ((b(i + k) & 0xC0) != 0x80) return 0;
    v = (v << 6) | (b(i + k) & 0x3F);
  }
  *cp = v;
  return n;
}

std::string py_strip(std::string_view s) {
  size_t begin = 0, end = s.size();
  uint32_t cp = 0;
  while (begin < end) {
    size_t n = decode_utf8(s, begin, &cp);
    if (n == 0 || !is_py_space(cp)) break;
    begin += n;
  }
  while (end > begin) {
    size_t start = end - 1;  // back up over continuation bytes to the code point's lead byte
    while (start > begin && end - start < 4 &&
           (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80)
      --start;
    size_t n = decode_utf8(s, start, &cp);
    if (n == 0 || start + n != end || !is_py_space(cp)) break;
    end = start;
  }
  return std::string(s.substr(begin, end - begin));
}

// ---- rendering ----

class Renderer {
 public:
  void add(std::string_view s) { out_.text += s; }
  // An assistant turn's trained part: `content`, then `marker` (e.g. "<|im_end|>").
  void add_assistant(size_t message, std::string_view content, std::string_view marker) {
    size_t begin = out_.text.size();
    add(content);
    add(marker);
    out_.assistant_spans.emplace_back(begin, out_.text.size());
    out_.message_of_span.push_back(message);
  }
  RenderedChat take() { return std::move(out_); }

 private:
  RenderedChat out_;
};

void need_token(ChatTemplate t, const std::string& value, const char* name) {
  if (value.empty())
    usage_error("the {} chat template needs the tokenizer's {} token; the tokenizer has none",
                name_of(t), name);
}

// Checks what every family needs; `alternating` families (llama2, mistral) accept one optional
// leading system message, then user, assistant, user, ... as their raise_exception demands.
void check_roles(ChatTemplate t, const std::vector<ChatMessage>& m, bool alternating) {
  if (m.empty())
    usage_error("cannot render an empty conversation with the {} chat template", name_of(t));
  for (size_t i = 0; i < m.size(); ++i) {
    const std::string& r = m[i].role;
    if (r != "system" && r != "user" && r != "assistant")
      usage_error(
          "message {}: role '{}' is not supported by the {} template; expected system, user or "
          "assistant (tool messages and tool calls are out of scope)",
          i + 1, r, name_of(t));
  }
  if (!alternating) return;
  const size_t first = m[0].role == "system" ? 1 : 0;
  if (first == 1 && m.size() == 1)
    usage_error("message 1: the {} template drops a system message that no user message follows",
                name_of(t));
  for (size_t i = first; i < m.size(); ++i) {
    const char* expected = (i - first) % 2 == 0 ? "user" : "assistant";
    if (m[i].role == "system")
      usage_error(
          "message {}: the {} template accepts a system message only as the first message; "
          "after it, roles must alternate user/assistant/user/assistant/...",
          i + 1, name_of(t));
    if (m[i].role != expected)
      usage_error(
          "message {}: role '{}' breaks the {} template's alternation; expected '{}' (after the "
          "optional system message, roles must alternate user/assistant/user/assistant/...)",
          i + 1, m[i].role, name_of(t), expected);
  }
}

// OpenHermes-2.5 / SmolLM2 / Qwen2.5: "<|im_start|>{role}\n{content}<|im_end|>\n".
void render_chatml(const std::vector<ChatMessage>& m, bool gen, const ChatTokens& tk, Renderer& r) {
  if (tk.default_system && m[0].role != "system")
    r.add("<|im_start|>system\n" + *tk.default_system + "<|im_end|>\n");
  for (size_t i = 0; i < m.size(); ++i) {
    r.add("<|im_start|>" + m[i].role + "\n");
    if (m[i].role == "assistant")
      r.add_assistant(i, m[i].content, "<|im_end|>");
    else
      r.add(m[i].content + "<|im_end|>");
    r.add("\n");
  }
  if (gen) r.add("<|im_start|>assistant\n");
}

// One "<|start_header_id|>{role}<|end_header_id|>\n\n{content|trim}<|eot_id|>" block.
void add_llama3_turn(const std::vector<ChatMessage>& m, size_t i, Renderer& r) {
  r.add("<|start_header_id|>" + m[i].role + "<|end_header_id|>\n\n");
  if (m[i].role == "assistant")
    r.add_assistant(i, py_strip(m[i].content), "<|eot_id|>");
  else
    r.add(py_strip(m[i].content) + "<|eot_id|>");
}

// Llama 3.1/3.2/3.3: a system header with the knowledge cutoff and date always comes first; a
// leading system message is trimmed into it.
void render_llama3(const std::vector<ChatMessage>& m, bool gen, const ChatTokens& tk, Renderer& r) {
  r.add(tk.bos);
  r.add("<|start_header_id|>system<|end_header_id|>\n\n");
  r.add("Cutting Knowledge Date: December 2023\n");
  r.add("Today Date: " + tk.date_string + "\n\n");
  const size_t first = m[0].role == "system" ? 1 : 0;
  if (first == 1) r.add(py_strip(m[0].content));
  r.add("<|eot_id|>");
  for (size_t i = first; i < m.size(); ++i) add_llama3_turn(m, i, r);
  if (gen) r.add("<|start_header_id|>assistant<|end_header_id|>\n\n");
}

// Meta-Llama-3-*-Instruct (3.0): bos, then every message as a header block.
void render_llama3_0(const std::vector<ChatMessage>& m, bool gen, const ChatTokens& tk,
                     Renderer& r) {
  r.add(tk.bos);
  for (size_t i = 0; i < m.size(); ++i) add_llama3_turn(m, i, r);
  if (gen) r.add("<|start_header_id|>assistant<|end_header_id|>\n\n");
}

// Llama-2-chat: "<s>[INST] <<SYS>>\n{system}\n<</SYS>>\n\n{user} [/INST] {assistant} </s>".
void render_llama2(const std::vector<ChatMessage>& m, const ChatTokens& tk, Renderer& r) {
  const size_t first = m[0].role == "system" ? 1 : 0;
  for (size_t i = first; i < m.size(); ++i) {
    if (m[i].role == "user") {
      std::string content = m[i].content;
      if (i == first && first == 1)
        content = "<<SYS>>\n" + m[0].content + "\n<</SYS>>\n\n" + content;
      r.add(tk.bos + "[INST] " + py_strip(content) + " [/INST]");
    } else {
      r.add(" ");
      r.add_assistant(i, py_strip(m[i].content), " " + tk.eos);
    }
  }
}

// TinyLlama-1.1B-Chat / zephyr: "<|{role}|>\n{content}</s>\n", generation prompt "<|assistant|>\n".
void render_zephyr(const std::vector<ChatMessage>& m, bool gen, const ChatTokens& tk, Renderer& r) {
  for (size_t i = 0; i < m.size(); ++i) {
    r.add("<|" + m[i].role + "|>\n");
    if (m[i].role == "assistant")
      r.add_assistant(i, m[i].content, tk.eos);
    else
      r.add(m[i].content + tk.eos);
    r.add("\n");
  }
  if (gen) r.add("<|assistant|>\n");
}

// Mistral-7B-Instruct v0.1/v0.2 (2024 template): "<s> [INST] {system}\n\n{user} [/INST] {a}</s>".
void render_mistral(const std::vector<ChatMessage>& m, const ChatTokens& tk, Renderer& r) {
  const size_t first = m[0].role == "system" ? 1 : 0;
  r.add(tk.bos);
  for (size_t i = first; i < m.size(); ++i) {
    if (m[i].role == "user") {
      if (i == first && first == 1)
        r.add(" [INST] " + m[0].content + "\n\n" + m[i].content + " [/INST]");
      else
        r.add(" [INST] " + m[i].content + " [/INST]");
    } else {
      r.add(" ");
      r.add_assistant(i, m[i].content, tk.eos);
    }
  }
}

// ---- recognition ----

constexpr char kQuote = '\x1f';  // brackets a string literal's value in canonical()

// The value of the Jinja string literal opening at t[i] (a quote); `i` ends past it and
// `closed` says whether the closing quote was there.
std::string lex_literal(const std::string& t, size_t& i, bool& closed) {
  const char q = t[i++];
  std::string v;
  while (i < t.size() && t[i] != q) {
    if (t[i] == '\\' && i + 1 < t.size()) {  // Python escapes; unknown ones stay as written
      static const std::string kEscape = "ntr\\'\"", kValue = "\n\t\r\\'\"";
      const size_t k = kEscape.find(t[i + 1]);
      if (k == std::string::npos) v += '\\';
      v += k == std::string::npos ? t[i + 1] : kValue[k];
      i += 2;
    } else {
      v += t[i++];
    }
  }
  closed = i < t.size();
  if (closed) ++i;
  return v;
}

// `t` as Jinja lexes it with trim_blocks and lstrip_blocks: raw text as it would be emitted,
// each tag as "{%...%}" or "{{...}}" with the whitespace outside string literals dropped and each
// literal as kQuote + value + kQuote; comments vanish. Two templates with the same canonical form
// render alike; an unterminated tag or literal (a fragment's prefix) ends the output there.
std::string canonical(const std::string& t) {
  std::string out;
  size_t i = 0;
  bool strip_lead = false, trim_newline = false, line_start = true;
  while (i <= t.size()) {
    size_t open = t.find('{', i);
    while (open != std::string::npos && open + 1 < t.size() && t[open + 1] != '{' &&
           t[open + 1] != '%' && t[open + 1] != '#')
      open = t.find('{', open + 1);
    if (open != std::string::npos && open + 1 >= t.size()) open = std::string::npos;
    std::string text = t.substr(i, open == std::string::npos ? std::string::npos : open - i);
    if (strip_lead) {
      size_t k = text.find_first_not_of(" \t\r\n");
      text.erase(0, k == std::string::npos ? text.size() : k);
    } else if (trim_newline && !text.empty() && text[0] == '\n')
      text.erase(0, 1);
    if (open == std::string::npos) {
      out += text;
      break;
    }
    const char kind = t[open + 1];
    size_t j = open + 2;
    const char mod = j < t.size() ? t[j] : '\0';
    if (mod == '-' || mod == '+') ++j;
    if (mod == '-') {
      text.erase(text.find_last_not_of(" \t\r\n") + 1);
    } else if (kind != '{' && mod != '+') {  // lstrip_blocks
      size_t nl = text.rfind('\n');
      size_t from = nl == std::string::npos ? 0 : nl + 1;
      if ((nl != std::string::npos || line_start) &&
          text.find_first_not_of(" \t", from) == std::string::npos)
        text.erase(from);
    }
    out += text;
    const std::string close = kind == '{' ? "}}" : kind == '%' ? "%}" : "#}";
    std::string body;
    bool closed = false, dash_close = false, plus_close = false;
    while (j < t.size()) {
      if (t.compare(j, 2, close) == 0) {
        j += 2, closed = true;
        break;
      }
      if ((t[j] == '-' || t[j] == '+') && t.compare(j + 1, 2, close) == 0) {
        (t[j] == '-' ? dash_close : plus_close) = true;
        j += 3, closed = true;
        break;
      }
      if (kind != '#' && (t[j] == '\'' || t[j] == '"')) {
        bool literal_closed = false;
        body += kQuote + lex_literal(t, j, literal_closed);
        if (!literal_closed) break;  // a fragment's prefix ends inside this literal
        body += kQuote;
      } else {
        if (kind != '#' && t[j] != ' ' && t[j] != '\t' && t[j] != '\r' && t[j] != '\n')
          body += t[j];
        ++j;
      }
    }
    if (kind != '#') out += std::string(1, '{') + kind + body + (closed ? close : "");
    if (!closed) break;
    strip_lead = dash_close;
    trim_newline = kind != '{' && !plus_close;
    line_start = trim_newline && j < t.size() && t[j] == '\n';
    i = j;
  }
  return out;
}

bool has(const std::string& canon, const std::string& fragment) {
  return canon.find(canonical(fragment)) != std::string::npos;
}

// The constant default-system text in "{{ '<|im_start|>system\n" + X + "<|im_end|>\n' }}"
// right after `prefix` (which ends inside that literal), or nullopt.
std::optional<std::string> default_after(const std::string& canon, const std::string& prefix) {
  const std::string p = canonical(prefix);
  size_t at = canon.find(p);
  if (at == std::string::npos) return std::nullopt;
  size_t begin = at + p.size(), end = canon.find(kQuote, begin);
  const std::string tail = "<|im_end|>\n";
  if (end == std::string::npos || end - begin < tail.size() ||
      canon.compare(end - tail.size(), tail.size(), tail) != 0 ||
      canon.compare(end + 1, 2, "}}") != 0)
    return std::nullopt;
  return canon.substr(begin, end - tail.size() - begin);
}

// SmolLM2 / Qwen2: a default system turn inserted on the first iteration.
constexpr const char* kChatmlLoopFirstDefault =
    R"({% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\n)";
// Qwen2.5: an if/else on messages[0] ahead of the loop (the else branch of `if tools`).
constexpr const char* kChatmlQwenDefault =
    R"({%- else %}{%- if messages[0]['role'] == 'system' %}{{- '<|im_start|>system\n' + messages[0]['content'] + '<|im_end|>\n' }}{%- else %}{{- '<|im_start|>system\n)";

std::optional<std::string> chatml_default(const std::string& canon) {
  if (auto d = default_after(canon, kChatmlLoopFirstDefault)) return d;
  return default_after(canon, kChatmlQwenDefault);
}

bool is_chatml(const std::string& jinja, const std::string& c) {
  if (jinja.find("bos_token") != std::string::npos || jinja.find("eos_token") != std::string::npos)
    return false;  // internlm2 / zephyr-gemma style ChatML adds special tokens
  const char* turn =
      R"({{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %})";
  const char* gen = R"({% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %})";
  if (has(c, std::string("{% for message in messages %}") + turn) && has(c, gen)) return true;
  if (default_after(c, kChatmlLoopFirstDefault) && has(c, turn) && has(c, gen)) return true;
  return default_after(c, kChatmlQwenDefault) &&
         has(c,
             R"({%- for message in messages %}{%- if (message.role == "user") or (message.role == "system" and not loop.first) or (message.role == "assistant" and not message.tool_calls) %}{{- '<|im_start|>' + message.role + '\n' + message.content + '<|im_end|>' + '\n' }})") &&
         has(c, gen);
}

bool is_llama3(const std::string& c) {
  return has(c, R"({{- bos_token }})") &&
         has(c,
             R"({%- if messages[0]['role'] == 'system' %}{%- set system_message = messages[0]['content']|trim %}{%- set messages = messages[1:] %}{%- else %}{%- set system_message = "" %}{%- endif %})") &&
         has(c, R"({{- "<|start_header_id|>system<|end_header_id|>\n\n" }})") &&
         has(c,
             R"({{- "Cutting Knowledge Date: December 2023\n" }}{{- "Today Date: " + date_string + "\n\n" }})") &&
         has(c, R"({{- system_message }}{{- "<|eot_id|>" }})") &&
         has(c,
             R"({%- if not (message.role == 'ipython' or message.role == 'tool' or 'tool_calls' in message) %}{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' }})") &&
         has(c,
             R"({%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{%- endif %})");
}

bool is_llama3_0(const std::string& c) {
  return has(
      c,
      R"({% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %})");
}

bool is_llama2(const std::string& c) {
  return has(c,
             R"({% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %})") &&
         has(c,
             R"({% for message in loop_messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\n' + system_message + '\n<</SYS>>\n\n' + message['content'] %}{% else %}{% set content = message['content'] %}{% endif %}{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }})") &&
         has(c,
             R"({% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %})");
}

bool is_zephyr(const std::string& c) {
  return has(c,
             "{% for message in messages %}\n{% if message['role'] == 'user' %}\n"
             "{{ '<|user|>\\n' + message['content'] + eos_token }}\n"
             "{% elif message['role'] == 'system' %}\n"
             "{{ '<|system|>\\n' + message['content'] + eos_token }}\n"
             "{% elif message['role'] == 'assistant' %}\n"
             "{{ '<|assistant|>\\n'  + message['content'] + eos_token }}\n{% endif %}\n"
             "{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n"
             "{% endfor %}");
}

bool is_mistral(const std::string& c) {
  return has(c,
             R"({%- if messages[0]['role'] == 'system' %}{%- set system_message = messages[0]['content'] %}{%- set loop_messages = messages[1:] %}{%- else %}{%- set loop_messages = messages %}{%- endif %}{{- bos_token }}{%- for message in loop_messages %}{%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) %})") &&
         has(c,
             R"({%- if message['role'] == 'user' %}{%- if loop.first and system_message is defined %}{{- ' [INST] ' + system_message + '\n\n' + message['content'] + ' [/INST]' }}{%- else %}{{- ' [INST] ' + message['content'] + ' [/INST]' }}{%- endif %}{%- elif message['role'] == 'assistant' %}{{- ' ' + message['content'] + eos_token}}{%- else %})");
}

}  // namespace

RenderedChat render_chat(ChatTemplate t, const std::vector<ChatMessage>& messages,
                         bool add_generation_prompt, const ChatTokens& tokens) {
  PTUNE_CHECK(t != ChatTemplate::kAuto, "render_chat: resolve 'auto' to a family first");
  const bool alternating = t == ChatTemplate::kLlama2 || t == ChatTemplate::kMistral;
  check_roles(t, messages, alternating);
  if (t == ChatTemplate::kLlama3 || t == ChatTemplate::kLlama3_0 || alternating)
    need_token(t, tokens.bos, "bos");
  if (t == ChatTemplate::kZephyr || alternating) need_token(t, tokens.eos, "eos");
  Renderer r;
  switch (t) {
    case ChatTemplate::kChatml:
      render_chatml(messages, add_generation_prompt, tokens, r);
      break;
    case ChatTemplate::kLlama3:
      render_llama3(messages, add_generation_prompt, tokens, r);
      break;
    case ChatTemplate::kLlama3_0:
      render_llama3_0(messages, add_generation_prompt, tokens, r);
      break;
    case ChatTemplate::kLlama2:
      render_llama2(messages, tokens, r);
      break;
    case ChatTemplate::kZephyr:
      render_zephyr(messages, add_generation_prompt, tokens, r);
      break;
    case ChatTemplate::kMistral:
      render_mistral(messages, tokens, r);
      break;
    case ChatTemplate::kAuto:
      break;
  }
  return r.take();
}

std::optional<ChatTemplate> recognise_chat_template(const std::string& jinja) {
  const std::string c = canonical(jinja);
  if (is_chatml(jinja, c)) return ChatTemplate::kChatml;
  if (is_llama3(c)) return ChatTemplate::kLlama3;
  if (is_llama3_0(c)) return ChatTemplate::kLlama3_0;
  if (is_llama2(c)) return ChatTemplate::kLlama2;
  if (is_zephyr(c)) return ChatTemplate::kZephyr;
  if (is_mistral(c)) return ChatTemplate::kMistral;
  return std::nullopt;
}

std::optional<std::string> chatml_default_system(const std::string& jinja) {
  if (recognise_chat_template(jinja) != ChatTemplate::kChatml) return std::nullopt;
  return chatml_default(canonical(jinja));
}

std::string end_of_turn(ChatTemplate t, const ChatTokens& tokens) {
  switch (t) {
    case ChatTemplate::kChatml:
      return "<|im_end|>";
    case ChatTemplate::kLlama3:
    case ChatTemplate::kLlama3_0:
      return "<|eot_id|>";
    default:
      need_token(t, tokens.eos, "eos");
      return tokens.eos;
  }
}

}  // namespace ptune
