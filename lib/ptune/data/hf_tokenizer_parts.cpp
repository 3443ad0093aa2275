// Normalizers and pre-tokenizers of the tokenizer.json engine, with their JSON parsing.
// Each mirrors its huggingface/tokenizers counterpart down to the odd corners (which
// piece an empty regex match lands in, which original offset an inserted char takes), because
// token ids must match HF's exactly. NFC/NFKC and case mapping come from ICU, whose Unicode
// version can differ from the tables HF was built with for characters added since.
#include "ptune/data/hf_tokenizer_parts.h"

#include <unicode/bytestream.h>
#include <unicode/edits.h>
#include <unicode/normalizer2.h>
#include <unicode/uchar.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "ptune/core/error.h"

namespace ptune::hf {

using json = nlohmann::json;

// ---- JSON helpers

const json& field(const json& j, const char* key, const JsonPath& at) {
  auto it = j.find(key);
  if (it == j.end()) runtime_error("{}: missing field '{}'", at.str(), key);
  return *it;
}

std::string str_field(const json& j, const char* key, const JsonPath& at) {
  const json& v = field(j, key, at);
  if (!v.is_string()) runtime_error("{}.{}: expected a string, got {}", at.str(), key, v.dump());
  return v.get<std::string>();
}

bool bool_field(const json& j, const char* key, const JsonPath& at, bool dflt) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return dflt;
  if (!it->is_boolean())
    runtime_error("{}.{}: expected true or false, got {}", at.str(), key, it->dump());
  return it->get<bool>();
}

std::string type_of(const json& j, const JsonPath& at) {
  if (!j.is_object()) runtime_error("{}: expected an object, got {}", at.str(), j.dump());
  return str_field(j, "type", at);
}

[[noreturn]] void unsupported(const JsonPath& at, const std::string& type, const char* supported) {
  usage_error("tokenizer '{}': {} type '{}' is not supported (supported: {})", *at.file, at.where,
              type, supported);
}

uint32_t char_field(const json& j, const char* key, const JsonPath& at) {
  std::string s = str_field(j, key, at);
  size_t i = 0;
  uint32_t c = s.empty() ? 0 : next_char(s, i);
  if (s.empty() || i != s.size())
    runtime_error("{}.{}: expected a single character, got \"{}\"", at.str(), key, s);
  return c;
}

Regex pattern_field(const json& j, const JsonPath& at) {
  const json& p = field(j, "pattern", at);
  JsonPath pat = at.at("pattern");
  if (p.is_object() && p.size() == 1 && p.begin().value().is_string()) {
    const std::string s = p.begin().value().get<std::string>();
    if (p.begin().key() == "String") return Regex::literal(s, pat);
    if (p.begin().key() == "Regex") return Regex::compile(s, pat);
  }
  runtime_error("{}: expected {{\"String\": ...}} or {{\"Regex\": ...}}, got {}", pat.str(),
                p.dump());
}

// ---- Pieces

Piece slice(const Piece& p, size_t a, size_t b) {
  Piece q;
  q.text = p.text.substr(a, b - a);
  if (!p.origin.empty()) {
    q.origin.assign(p.origin.begin() + a, p.origin.begin() + b);
    q.shift = a < p.origin.size() ? p.origin[a] : p.shift;
  }
  return q;
}

namespace {

// Builds a piece's new text; with tracking, each new byte records its original offset.
struct Rebuild {
  const Piece& src;
  bool track;
  std::string text;
  std::vector<uint32_t> origin;
  explicit Rebuild(const Piece& p) : src(p), track(!p.origin.empty()) {
    text.reserve(p.text.size() + 8);
    if (track) origin.reserve(p.text.size() + 8);
  }
  void copy(size_t a, size_t b) {
    text.append(src.text, a, b - a);
    if (track) origin.insert(origin.end(), src.origin.begin() + a, src.origin.begin() + b);
  }
  void add(std::string_view s, uint32_t org) {
    text.append(s);
    if (track) origin.insert(origin.end(), s.size(), org);
  }
  void add_char(uint32_t c, uint32_t org) {
    const size_t before = text.size();
    append_utf8(text, c);
    if (track) origin.insert(origin.end(), text.size() - before, org);
  }
  void finish(Piece& p) {
    p.text = std::move(text);
    if (track) p.origin = std::move(origin);
  }
};

uint32_t origin_at(const Piece& p, size_t i) {
  return p.origin.empty() ? 0 : p.origin[i];
}

// HF's NormalizedString::prepend: the new chars take the alignment of the first char.
void prepend(Piece& p, std::string_view s) {
  if (p.text.empty()) return;
  p.text.insert(0, s);
  if (!p.origin.empty()) p.origin.insert(p.origin.begin(), s.size(), p.origin[0]);
}

// HF's NormalizedString::replace: every match becomes `content`, whose chars take the
// alignment of the match's last byte (or offset 0 for an empty match at the start).
void replace(Piece& p, const std::vector<Span>& spans, std::string_view content) {
  bool any = false;
  for (const Span& s : spans) any |= s.match;
  if (!any) return;
  Rebuild r(p);
  for (const Span& s : spans) {
    if (!s.match) {
      r.copy(s.start, s.end);
    } else if (!content.empty()) {
      r.add(content, s.end >= 1 ? origin_at(p, s.end - 1) : p.shift);
    }
  }
  r.finish(p);
}

// HF's `impl Pattern for Fn(char) -> bool`: each matching char is a match of its own.
template <typename Pred>
void char_spans(std::string_view text, Pred pred, std::vector<Span>& out) {
  out.clear();
  if (text.empty()) {
    out.push_back({0, 0, false});
    return;
  }
  size_t last = 0, i = 0;
  while (i < text.size()) {
    const size_t b = i;
    const uint32_t c = next_char(text, i);
    if (pred(c)) {
      if (last < b) out.push_back({uint32_t(last), uint32_t(b), false});
      out.push_back({uint32_t(b), uint32_t(i), true});
      last = i;
    }
  }
  if (last < text.size()) out.push_back({uint32_t(last), uint32_t(text.size()), false});
}

// ICU normalization on UTF-8; with tracking, each changed span's output takes the origin of
// the span's first input byte (HF's per-char alignments agree at span starts).
void unicode_normalize(Piece& p, const icu::Normalizer2& n2) {
  UErrorCode err = U_ZERO_ERROR;
  const icu::StringPiece src(p.text.data(), static_cast<int32_t>(p.text.size()));
  if (n2.isNormalizedUTF8(src, err) && U_SUCCESS(err)) return;
  err = U_ZERO_ERROR;
  std::string out;
  icu::StringByteSink<std::string> sink(&out, static_cast<int32_t>(p.text.size()));
  icu::Edits edits;
  n2.normalizeUTF8(0, src, sink, p.origin.empty() ? nullptr : &edits, err);
  PTUNE_CHECK(U_SUCCESS(err), "ICU normalization failed: {}", u_errorName(err));
  if (!p.origin.empty()) {
    std::vector<uint32_t> origin;
    origin.reserve(out.size());
    auto it = edits.getFineIterator();
    while (it.next(err)) {
      const auto s = static_cast<size_t>(it.sourceIndex());
      if (it.hasChange()) {
        const uint32_t org = s < p.origin.size() ? p.origin[s] : p.shift;
        origin.insert(origin.end(), static_cast<size_t>(it.newLength()), org);
      } else {
        origin.insert(origin.end(), p.origin.begin() + s, p.origin.begin() + s + it.oldLength());
      }
    }
    p.origin = std::move(origin);
  }
  p.text = std::move(out);
}

const icu::Normalizer2& icu_instance(Normalizer::Kind k) {
  UErrorCode err = U_ZERO_ERROR;
  const icu::Normalizer2* n = nullptr;
  switch (k) {
    case Normalizer::Kind::NFC:
      n = icu::Normalizer2::getNFCInstance(err);
      break;
    case Normalizer::Kind::NFD:
      n = icu::Normalizer2::getNFDInstance(err);
      break;
    case Normalizer::Kind::NFKC:
      n = icu::Normalizer2::getNFKCInstance(err);
      break;
    default:
      n = icu::Normalizer2::getNFKDInstance(err);
      break;
  }
  if (U_FAILURE(err) || !n) runtime_error("ICU normalizer data unavailable: {}", u_errorName(err));
  return *n;
}

// Rust's char::to_lowercase, which is per char (no final-sigma context): the simple mapping,
// except U+0130 whose full lowercase is two chars.
void lowercase(Piece& p) {
  bool ascii_only = true;
  for (char c : p.text) ascii_only &= static_cast<unsigned char>(c) < 0x80;
  if (ascii_only) {
    for (char& c : p.text)
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return;
  }
  Rebuild r(p);
  size_t i = 0;
  while (i < p.text.size()) {
    const size_t b = i;
    const uint32_t c = next_char(p.text, i);
    const uint32_t org = origin_at(p, b);
    if (c == 0x130) {
      r.add("i\xCC\x87", org);
    } else {
      r.add_char(static_cast<uint32_t>(u_tolower(static_cast<UChar32>(c))), org);
    }
  }
  r.finish(p);
}

void strip(Piece& p, bool left, bool right) {
  size_t a = 0, b = p.text.size();
  if (left) {
    size_t i = 0;
    while (i < b) {
      size_t j = i;
      if (!is_white_space(next_char(p.text, j))) break;
      i = j;
    }
    a = i;
  }
  if (right) {
    while (b > a) {
      size_t s = b - 1;
      while (s > a && (static_cast<unsigned char>(p.text[s]) & 0xC0) == 0x80) --s;
      size_t j = s;
      if (!is_white_space(next_char(p.text, j))) break;
      b = s;
    }
  }
  if (a == 0 && b == p.text.size()) return;
  p.text = p.text.substr(a, b - a);
  if (!p.origin.empty())
    p.origin = std::vector<uint32_t>(p.origin.begin() + a, p.origin.begin() + b);
}

}  // namespace

// ---- Normalizers

void Normalizer::apply(Piece& p) const {
  switch (kind) {
    case Kind::NFC:
    case Kind::NFD:
    case Kind::NFKC:
    case Kind::NFKD:
      unicode_normalize(p, icu_instance(kind));
      break;
    case Kind::Lowercase:
      lowercase(p);
      break;
    case Kind::Strip:
      strip(p, strip_left, strip_right);
      break;
    case Kind::Prepend:
      prepend(p, content);
      break;
    case Kind::Replace: {
      std::vector<Span> spans;
      pattern.find_matches(p.text, spans);
      replace(p, spans, content);
      break;
    }
    case Kind::Sequence:
      for (const Normalizer& n : children) n.apply(p);
      break;
  }
}

std::optional<Normalizer> parse_normalizer(const json& j, const JsonPath& at) {
  if (j.is_null()) return std::nullopt;
  const std::string type = type_of(j, at);
  Normalizer n;
  if (type == "NFC") {
    n.kind = Normalizer::Kind::NFC;
  } else if (type == "NFD") {
    n.kind = Normalizer::Kind::NFD;
  } else if (type == "NFKC") {
    n.kind = Normalizer::Kind::NFKC;
  } else if (type == "NFKD") {
    n.kind = Normalizer::Kind::NFKD;
  } else if (type == "Lowercase") {
    n.kind = Normalizer::Kind::Lowercase;
  } else if (type == "Strip") {
    n.kind = Normalizer::Kind::Strip;
    n.strip_left = bool_field(j, "strip_left", at, false);
    n.strip_right = bool_field(j, "strip_right", at, false);
  } else if (type == "Prepend") {
    n.kind = Normalizer::Kind::Prepend;
    n.content = str_field(j, "prepend", at);
  } else if (type == "Replace") {
    n.kind = Normalizer::Kind::Replace;
    n.pattern = pattern_field(j, at);
    n.content = str_field(j, "content", at);
  } else if (type == "Sequence") {
    const json& list = field(j, "normalizers", at);
    if (!list.is_array()) runtime_error("{}.normalizers: expected an array", at.str());
    for (size_t i = 0; i < list.size(); ++i) {
      auto child = parse_normalizer(list[i], at.at("normalizers").at(i));
      if (child) n.children.push_back(std::move(*child));
    }
  } else {
    unsupported(at, type, "NFC, NFD, NFKC, NFKD, Lowercase, Strip, Prepend, Replace, Sequence");
  }
  return n;
}

// ---- Pre-tokenizers

const std::vector<uint32_t>& bytes_to_chars() {
  static const std::vector<uint32_t> table = [] {
    std::vector<uint32_t> t(256, 0);
    uint32_t n = 0;
    for (uint32_t b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
      t[b] = printable ? b : 256 + n++;
    }
    return t;
  }();
  return table;
}

namespace {

// GPT-2's pre-tokenization regex (HF byte_level.rs).
const char* kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

// HF's NormalizedString::split: folds the spans by `behavior`, then slices; empty parts drop.
void split_by(Piece& p, std::vector<Span>& spans, SplitBehavior behavior, bool invert,
              std::vector<Piece>& out) {
  if (invert)
    for (Span& s : spans) s.match = !s.match;
  std::vector<Span> parts;  // match = "remove this part"
  parts.reserve(spans.size());
  bool prev = false;
  switch (behavior) {
    case SplitBehavior::Isolated:
      for (Span s : spans) parts.push_back({s.start, s.end, false});
      break;
    case SplitBehavior::Removed:
      parts = spans;
      break;
    case SplitBehavior::Contiguous:
      for (const Span& s : spans) {
        if (s.match == prev && !parts.empty()) {
          parts.back().end = s.end;
        } else {
          parts.push_back({s.start, s.end, false});
        }
        prev = s.match;
      }
      break;
    case SplitBehavior::MergedWithPrevious:
      for (const Span& s : spans) {
        if (s.match && !prev && !parts.empty()) {
          parts.back().end = s.end;
        } else {
          parts.push_back({s.start, s.end, false});
        }
        prev = s.match;
      }
      break;
    case SplitBehavior::MergedWithNext:
      for (auto it = spans.rbegin(); it != spans.rend(); ++it) {
        if (it->match && !prev && !parts.empty()) {
          parts.back().start = it->start;
        } else {
          parts.push_back({it->start, it->end, false});
        }
        prev = it->match;
      }
      std::reverse(parts.begin(), parts.end());
      break;
  }
  for (const Span& s : parts) {
    if (s.match || s.start == s.end) continue;
    if (s.start == 0 && s.end == p.text.size() && p.origin.empty()) {
      out.push_back(std::move(p));  // the whole piece (only one part can be)
    } else {
      out.push_back(slice(p, s.start, s.end));
    }
  }
}

// ByteLevel's byte -> char mapping; every char of a byte's expansion keeps its char's origin.
void map_bytes(Piece& p) {
  const auto& table = bytes_to_chars();
  Rebuild r(p);
  size_t i = 0;
  while (i < p.text.size()) {
    const size_t n = static_cast<size_t>(utf8_len(static_cast<unsigned char>(p.text[i])));
    const uint32_t org = origin_at(p, i);
    for (size_t k = 0; k < n; ++k)
      r.add_char(table[static_cast<unsigned char>(p.text[i + k])], org);
    i += n;
  }
  r.finish(p);
}

bool is_numeric(uint32_t c) {
  if (c < 0x80) return c >= '0' && c <= '9';
  return (U_GET_GC_MASK(static_cast<UChar32>(c)) & U_GC_N_MASK) != 0;
}

void pre_tokenize_one(const PreTokenizer& t, Piece& p, std::vector<Span>& spans,
                      std::vector<Piece>& out) {
  using K = PreTokenizer::Kind;
  switch (t.kind) {
    case K::ByteLevel: {
      if (t.add_prefix_space && p.text[0] != ' ') prepend(p, " ");
      const size_t first = out.size();
      if (t.use_regex) {
        t.pattern.find_matches(p.text, spans);
        split_by(p, spans, SplitBehavior::Isolated, false, out);
      } else {
        out.push_back(std::move(p));
      }
      for (size_t i = first; i < out.size(); ++i) map_bytes(out[i]);
      break;
    }
    case K::Split:
      t.pattern.find_matches(p.text, spans);
      split_by(p, spans, t.behavior, t.invert, out);
      break;
    case K::Metaspace: {
      char_spans(
          p.text, [](uint32_t c) { return c == ' '; }, spans);
      replace(p, spans, t.replacement_utf8);
      const bool starts = p.text.compare(0, t.replacement_utf8.size(), t.replacement_utf8) == 0;
      if (!starts && (t.prepend == PreTokenizer::Prepend::Always ||
                      (t.prepend == PreTokenizer::Prepend::First && p.shift == 0)))
        prepend(p, t.replacement_utf8);
      if (t.split) {
        const uint32_t rep = t.replacement;
        char_spans(
            p.text, [rep](uint32_t c) { return c == rep; }, spans);
        split_by(p, spans, SplitBehavior::MergedWithNext, false, out);
      } else {
        out.push_back(std::move(p));
      }
      break;
    }
    case K::Digits:
      char_spans(p.text, is_numeric, spans);
      split_by(p, spans, t.individual_digits ? SplitBehavior::Isolated : SplitBehavior::Contiguous,
               false, out);
      break;
    case K::Sequence:
      break;  // handled by apply
  }
}

}  // namespace

void PreTokenizer::apply(std::vector<Piece>& pieces) const {
  if (kind == Kind::Sequence) {
    for (const PreTokenizer& c : children) c.apply(pieces);
    return;
  }
  std::vector<Piece> out;
  out.reserve(pieces.size() * 2);
  std::vector<Span> spans;
  for (Piece& p : pieces) {
    if (p.token >= 0) {
      out.push_back(std::move(p));
    } else if (!p.text.empty()) {
      pre_tokenize_one(*this, p, spans, out);
    }
  }
  pieces = std::move(out);
}

bool PreTokenizer::needs_origin() const {
  if (kind == Kind::Metaspace) return prepend == Prepend::First;
  for (const PreTokenizer& c : children)
    if (c.needs_origin()) return true;
  return false;
}

PreTokenizer::Prepend parse_prepend_scheme(const json& j, const JsonPath& at) {
  PreTokenizer::Prepend scheme = PreTokenizer::Prepend::Always;
  auto it = j.find("prepend_scheme");
  if (it != j.end() && !it->is_null()) {
    const std::string s = str_field(j, "prepend_scheme", at);
    if (s == "always") {
      scheme = PreTokenizer::Prepend::Always;
    } else if (s == "first") {
      scheme = PreTokenizer::Prepend::First;
    } else if (s == "never") {
      scheme = PreTokenizer::Prepend::Never;
    } else {
      runtime_error("{}.prepend_scheme: expected always, first or never, got \"{}\"", at.str(), s);
    }
  }
  if (!bool_field(j, "add_prefix_space", at, true)) {
    if (scheme != PreTokenizer::Prepend::Never)
      runtime_error("{}: add_prefix_space false contradicts prepend_scheme (expected \"never\")",
                    at.str());
  }
  return scheme;
}

std::optional<PreTokenizer> parse_pre_tokenizer(const json& j, const JsonPath& at) {
  if (j.is_null()) return std::nullopt;
  const std::string type = type_of(j, at);
  PreTokenizer t;
  using K = PreTokenizer::Kind;
  if (type == "ByteLevel") {
    t.kind = K::ByteLevel;
    // Required, as in HF: it changes the ids, so no default is guessed.
    if (!field(j, "add_prefix_space", at).is_boolean())
      runtime_error("{}.add_prefix_space: expected true or false", at.str());
    t.add_prefix_space = bool_field(j, "add_prefix_space", at, false);
    t.use_regex = bool_field(j, "use_regex", at, true);
    if (t.use_regex) t.pattern = Regex::compile(kGpt2Pattern, at);
  } else if (type == "Split") {
    t.kind = K::Split;
    t.pattern = pattern_field(j, at);
    const std::string b = str_field(j, "behavior", at);
    if (b == "Removed") {
      t.behavior = SplitBehavior::Removed;
    } else if (b == "Isolated") {
      t.behavior = SplitBehavior::Isolated;
    } else if (b == "MergedWithPrevious") {
      t.behavior = SplitBehavior::MergedWithPrevious;
    } else if (b == "MergedWithNext") {
      t.behavior = SplitBehavior::MergedWithNext;
    } else if (b == "Contiguous") {
      t.behavior = SplitBehavior::Contiguous;
    } else {
      runtime_error(
          "{}.behavior: expected Removed, Isolated, MergedWithPrevious, MergedWithNext or "
          "Contiguous, got \"{}\"",
          at.str(), b);
    }
    t.invert = bool_field(j, "invert", at, false);
  } else if (type == "Metaspace") {
    t.kind = K::Metaspace;
    t.replacement = char_field(j, "replacement", at);
    t.replacement_utf8.clear();
    append_utf8(t.replacement_utf8, t.replacement);
    t.prepend = parse_prepend_scheme(j, at);
    t.split = bool_field(j, "split", at, true);
  } else if (type == "Digits") {
    t.kind = K::Digits;
    t.individual_digits = bool_field(j, "individual_digits", at, false);
  } else if (type == "Sequence") {
    const json& list = field(j, "pretokenizers", at);
    if (!list.is_array()) runtime_error("{}.pretokenizers: expected an array", at.str());
    for (size_t i = 0; i < list.size(); ++i) {
      auto child = parse_pre_tokenizer(list[i], at.at("pretokenizers").at(i));
      if (child) t.children.push_back(std::move(*child));
    }
  } else {
    unsupported(at, type, "ByteLevel, Split, Metaspace, Digits, Sequence");
  }
  return t;
}

}  // namespace ptune::hf
