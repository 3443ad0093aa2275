// UTF-8 helpers and the regex of the tokenizer.json engine: PCRE2 (JIT when available) set up
// to find the same matches as the Oniguruma regexes HF tokenizers compiles for Split,
// Replace and ByteLevel. Oniguruma's Ruby syntax differs from PCRE2's in a few escapes; those
// are translated (see translate() in hf_regex.cpp). Internal to lib/ptune/data/hf_*.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace ptune::hf {

// Where a value sits in the file, for error messages: "tokenizer '/x/tokenizer.json':
// pre_tokenizer.pretokenizers[1]".
struct JsonPath {
  const std::string* file;
  std::string where;
  JsonPath at(const std::string& key) const { return {file, where + "." + key}; }
  JsonPath at(size_t i) const { return {file, where + "[" + std::to_string(i) + "]"}; }
  std::string str() const { return "tokenizer '" + *file + "': " + where; }
};

// ---- UTF-8 (text inside the pipeline is always valid UTF-8)

inline int utf8_len(unsigned char lead) {
  return lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
}
uint32_t next_char(std::string_view s, size_t& i);  // decodes the char at i, advances i
void append_utf8(std::string& out, uint32_t c);
// Rust's String::from_utf8_lossy: each maximal invalid subsequence becomes one U+FFFD.
std::string utf8_lossy(std::string_view bytes);
bool is_white_space(uint32_t c);  // Unicode White_Space: Rust's char::is_whitespace and \s

// ---- Regex

struct Span {
  uint32_t start, end;  // byte offsets
  bool match;
};

class Regex {
 public:
  struct Code;
  // `pattern` is Oniguruma (Ruby) syntax as HF compiles it; the few constructs whose meaning
  // differs in PCRE2 (\s \w \b \h \uHHHH, line anchors) are translated.
  static Regex compile(const std::string& pattern, const JsonPath& at);
  static Regex literal(const std::string& text, const JsonPath& at);
  // Spans covering `text` in order: each match and the text between matches, found as HF's
  // onig find_iter does (an empty match is skipped when the previous match was not empty).
  void find_matches(std::string_view text, std::vector<Span>& out) const;

 private:
  std::shared_ptr<const Code> code_;
};

}  // namespace ptune::hf
