// The tokenizer.json engine's regex: Oniguruma patterns (HF tokenizers compiles Split, Replace
// and ByteLevel regexes with onig's default Ruby syntax) run on PCRE2 in UTF + UCP mode, JIT
// compiled where the platform allows. translate() rewrites the escapes whose meaning differs;
// find_matches() reproduces onig's find_iter, empty matches included. Also the UTF-8 helpers.
#include "ptune/data/hf_regex.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <unicode/uchar.h>

#include "ptune/core/error.h"

namespace ptune::hf {

// ---- UTF-8

uint32_t next_char(std::string_view s, size_t& i) {
  auto b = [&](size_t k) { return static_cast<uint32_t>(static_cast<unsigned char>(s[k])); };
  uint32_t c = b(i);
  int n = utf8_len(static_cast<unsigned char>(c));
  if (n == 1) {
    i += 1;
    return c;
  }
  uint32_t out = c & (0x7F >> n);
  for (int k = 1; k < n; ++k) out = (out << 6) | (b(i + k) & 0x3F);
  i += n;
  return out;
}

void append_utf8(std::string& out, uint32_t c) {
  if (c < 0x80) {
    out += static_cast<char>(c);
  } else if (c < 0x800) {
    out += static_cast<char>(0xC0 | (c >> 6));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else if (c < 0x10000) {
    out += static_cast<char>(0xE0 | (c >> 12));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (c >> 18));
    out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  }
}

std::string utf8_lossy(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  const size_t n = s.size();
  auto at = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  while (i < n) {
    const unsigned char c = at(i);
    if (c < 0x80) {
      out += static_cast<char>(c);
      ++i;
      continue;
    }
    // Expected length and the range allowed for the second byte (Unicode Table 3-7).
    int len = 0;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      if (c == 0xE0) lo = 0xA0;
      if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      if (c == 0xF0) lo = 0x90;
      if (c == 0xF4) hi = 0x8F;
    }
    size_t k = 1;
    if (len > 0) {
      for (; k < static_cast<size_t>(len) && i + k < n; ++k) {
        const unsigned char b = at(i + k);
        if (k == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xBF)) break;
      }
    }
    if (len > 0 && k == static_cast<size_t>(len)) {
      out.append(s.substr(i, k));
    } else {
      out += "\xEF\xBF\xBD";  // U+FFFD for the maximal invalid prefix
    }
    i += k;
  }
  return out;
}

bool is_white_space(uint32_t c) {
  if (c < 0x80) return c == ' ' || (c >= 0x09 && c <= 0x0D);
  return u_isUWhiteSpace(static_cast<UChar32>(c));
}

// ---- Regex

namespace {

// Oniguruma's \s is Unicode White_Space; PCRE2's (UCP) lacks U+0085.
const char* kSpace = R"(\t-\r\x{85}\p{Z})";
// Oniguruma's \w: Alphabetic, marks, decimal digits and connector punctuation. Outside a
// character class it also takes the Latin-1 digits ² ³ ¹ ¼ ½ ¾ (onig's Latin-1 ctype table).
const char* kWordInClass = R"(\p{Alphabetic}\p{M}\p{Nd}\p{Pc})";
const char* kWord = R"([\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\x{B2}\x{B3}\x{B9}\x{BC}-\x{BE}])";

bool is_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// Rewrites an Oniguruma pattern into the PCRE2 pattern that matches the same text (checked
// against HF tokenizers for \s \S \w \W \b \B \h \H \uHHHH, (?m)). Constructs PCRE2 would read
// differently and that have no rewrite here (nested classes, &&, \S \W \H inside a class) are
// refused rather than run with another meaning.
std::string translate(const std::string& p, const JsonPath& at) {
  auto refuse = [&](const char* what) {
    usage_error("{}: regex \"{}\" uses {}, which ptune cannot run as Oniguruma does", at.str(), p,
                what);
  };
  std::string out;
  out.reserve(p.size() + 16);
  bool in_class = false;
  size_t class_start = 0;  // index just after '[' or '[^'
  for (size_t i = 0; i < p.size(); ++i) {
    const char c = p[i];
    if (c == '\\' && i + 1 < p.size()) {
      const char d = p[++i];
      switch (d) {
        case 's':
          out += in_class ? std::string(kSpace) : "[" + std::string(kSpace) + "]";
          break;
        case 'S':
          if (in_class) refuse("\\S inside a character class");
          out += "[^" + std::string(kSpace) + "]";
          break;
        case 'w':
          out += in_class ? std::string("") + kWordInClass : std::string(kWord);
          break;
        case 'W':
          if (in_class) refuse("\\W inside a character class");
          out += "[^" + std::string(kWord + 1);
          break;
        case 'b':
        case 'B':
          if (in_class) {
            out += "\\b";  // backspace, as in both engines
          } else {
            const std::string w = kWord;
            out += d == 'b' ? "(?:(?<=" + w + ")(?!" + w + ")|(?<!" + w + ")(?=" + w + "))"
                            : "(?:(?<=" + w + ")(?=" + w + ")|(?<!" + w + ")(?!" + w + "))";
          }
          break;
        case 'h':
          out += in_class ? "0-9a-fA-F" : "[0-9a-fA-F]";
          break;
        case 'H':
          if (in_class) refuse("\\H inside a character class");
          out += "[^0-9a-fA-F]";
          break;
        case 'u':
          if (i + 4 < p.size() && is_hex(p[i + 1]) && is_hex(p[i + 2]) && is_hex(p[i + 3]) &&
              is_hex(p[i + 4])) {
            out += "\\x{" + p.substr(i + 1, 4) + "}";
            i += 4;
          } else {
            refuse("\\u without four hex digits");
          }
          break;
        default:
          out += '\\';
          out += d;
      }
      continue;
    }
    if (in_class) {
      if (c == ']' && i > class_start) {
        in_class = false;
      } else if (c == '[') {
        if (i + 1 < p.size() && p[i + 1] == ':') {
          const size_t e = p.find(":]", i + 2);
          if (e == std::string::npos) refuse("an unterminated POSIX bracket");
          out.append(p, i, e + 2 - i);
          i = e + 1;
          continue;
        }
        refuse("a nested character class");
      } else if (c == '&' && i + 1 < p.size() && p[i + 1] == '&') {
        refuse("class intersection (&&)");
      }
    } else if (c == '(' && i + 2 < p.size() && p[i + 1] == '?') {
      // Inline options: Ruby's (?m) is PCRE2's (?s) ('.' matches \n); i and x agree.
      size_t j = i + 2;
      while (j < p.size() && (p[j] == 'i' || p[j] == 'm' || p[j] == 'x' || p[j] == '-')) ++j;
      if (j > i + 2 && j < p.size() && (p[j] == ':' || p[j] == ')')) {
        out += "(?";
        for (size_t k = i + 2; k < j; ++k) out += p[k] == 'm' ? 's' : p[k];
        out += p[j];
        i = j;
        continue;
      }
    } else if (c == '[') {
      in_class = true;
      class_start = i + 1;
      if (class_start < p.size() && p[class_start] == '^') ++class_start;
      out += c;
      if (class_start > i + 1) out += '^';
      i = class_start - 1;
      continue;
    }
    out += c;
  }
  return out;
}

struct MatchScratch {
  pcre2_match_data* data = nullptr;
  pcre2_match_context* context = nullptr;
  pcre2_jit_stack* jit_stack = nullptr;
  MatchScratch() {
    data = pcre2_match_data_create(1, nullptr);
    context = pcre2_match_context_create(nullptr);
    jit_stack = pcre2_jit_stack_create(32 * 1024, 8 * 1024 * 1024, nullptr);
    if (jit_stack) pcre2_jit_stack_assign(context, nullptr, jit_stack);
  }
  ~MatchScratch() {
    pcre2_match_data_free(data);
    pcre2_match_context_free(context);
    pcre2_jit_stack_free(jit_stack);
  }
};

// One per thread: encode() is const and may run on several threads at once.
MatchScratch& scratch() {
  thread_local MatchScratch s;
  return s;
}

}  // namespace

struct Regex::Code {
  pcre2_code* code = nullptr;
  std::string pattern;  // as written in the file, for messages
  ~Code() { pcre2_code_free(code); }
};

namespace {

std::shared_ptr<const Regex::Code> build(const std::string& shown, const std::string& pcre,
                                         uint32_t options, const JsonPath& at) {
  auto code = std::make_shared<Regex::Code>();
  code->pattern = shown;
  pcre2_compile_context* cc = pcre2_compile_context_create(nullptr);
  pcre2_set_newline(cc, PCRE2_NEWLINE_LF);  // onig: only \n ends a line
  int err = 0;
  PCRE2_SIZE err_at = 0;
  code->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pcre.data()), pcre.size(),
                             options | PCRE2_UTF, &err, &err_at, cc);
  pcre2_compile_context_free(cc);
  if (!code->code) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(err, msg, sizeof msg);
    runtime_error("{}: invalid regex \"{}\": {} (at offset {})", at.str(), shown,
                  reinterpret_cast<const char*>(msg), err_at);
  }
  // JIT is only a speed-up: where it is unavailable, pcre2_match interprets.
  pcre2_jit_compile(code->code, PCRE2_JIT_COMPLETE);
  return code;
}

}  // namespace

Regex Regex::compile(const std::string& pattern, const JsonPath& at) {
  Regex r;
  // Ruby syntax: ^ and $ are line anchors; '.' does not match \n.
  r.code_ = build(pattern, translate(pattern, at), PCRE2_MULTILINE | PCRE2_UCP, at);
  return r;
}

Regex Regex::literal(const std::string& text, const JsonPath& at) {
  Regex r;
  r.code_ = build(text, text, PCRE2_LITERAL, at);
  return r;
}

void Regex::find_matches(std::string_view text, std::vector<Span>& out) const {
  out.clear();
  if (text.empty()) {
    out.push_back({0, 0, false});
    return;
  }
  MatchScratch& s = scratch();
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  const size_t n = text.size();
  size_t last_end = 0, prev = 0;
  bool skip_next_empty = false;
  while (last_end <= n) {
    const int rc =
        pcre2_match(code_->code, subject, n, last_end, PCRE2_NO_UTF_CHECK, s.data, s.context);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) {
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(rc, msg, sizeof msg);
      runtime_error("regex \"{}\" failed: {}", code_->pattern, reinterpret_cast<const char*>(msg));
    }
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(s.data);
    const size_t a = ov[0], b = ov[1];
    last_end = b;
    if (a == b) {
      // onig find_iter: step past the char after an empty match; an empty match right after
      // a non-empty one is not reported.
      last_end += b < n ? static_cast<size_t>(utf8_len(static_cast<unsigned char>(text[b]))) : 1;
      if (skip_next_empty) {
        skip_next_empty = false;
        continue;
      }
    } else {
      skip_next_empty = true;
    }
    if (prev != a) out.push_back({uint32_t(prev), uint32_t(a), false});
    out.push_back({uint32_t(a), uint32_t(b), true});
    prev = b;
  }
  if (prev != n) out.push_back({uint32_t(prev), uint32_t(n), false});
}

}  // namespace ptune::hf
