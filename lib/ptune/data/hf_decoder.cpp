// The tokenizer.json decoders (HF decoders/*.rs, and the ByteLevel and Metaspace decoders of
// pre_tokenizers/): each rewrites the list of token strings; the tokenizer then joins them.
// ByteLevel and ByteFallback turn bytes back into text, invalid UTF-8 becoming U+FFFD as HF's
// from_utf8_lossy and per-byte replacement do.
#include "ptune/data/hf_decoder.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "ptune/core/error.h"
#include "ptune/data/hf_tokenizer_parts.h"

namespace ptune::hf {

using json = nlohmann::json;

namespace {

std::vector<int> chars_to_bytes_table() {
  std::vector<int> t(512, -1);
  const auto& fwd = bytes_to_chars();
  for (int b = 0; b < 256; ++b) t[fwd[b]] = b;
  return t;
}

// "<0xAB>" -> 0xAB; Rust's u8::from_str_radix also takes a leading '+' ("<0x+A>").
int byte_token(const std::string& t) {
  if (t.size() != 6 || t.compare(0, 3, "<0x") != 0 || t[5] != '>') return -1;
  auto hex = [](char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  const int lo = hex(t[4]);
  if (lo < 0) return -1;
  if (t[3] == '+') return lo;
  const int hi = hex(t[3]);
  return hi < 0 ? -1 : hi * 16 + lo;
}

bool valid_utf8(const std::string& s) {
  return utf8_lossy(s) == s;
}

}  // namespace

void Decoder::apply(std::vector<std::string>& tokens) const {
  switch (kind) {
    case Kind::ByteLevel: {
      // All tokens become one string; a token with a char outside the byte map passes as is.
      static const std::vector<int> to_byte = chars_to_bytes_table();
      std::string bytes;
      for (const std::string& t : tokens) {
        const size_t before = bytes.size();
        size_t i = 0;
        bool ok = true;
        while (i < t.size()) {
          const uint32_t c = next_char(t, i);
          if (c >= to_byte.size() || to_byte[c] < 0) {
            ok = false;
            break;
          }
          bytes += static_cast<char>(to_byte[c]);
        }
        if (!ok) {
          bytes.resize(before);
          bytes += t;
        }
      }
      tokens.assign(1, utf8_lossy(bytes));
      break;
    }
    case Kind::Metaspace:
      for (size_t i = 0; i < tokens.size(); ++i) {
        std::string out;
        size_t k = 0;
        while (k < tokens[i].size()) {
          const uint32_t c = next_char(tokens[i], k);
          if (c != replacement) {
            append_utf8(out, c);
          } else if (i != 0 || prepend_never) {
            out += ' ';
          }
        }
        tokens[i] = std::move(out);
      }
      break;
    case Kind::ByteFallback: {
      std::vector<std::string> out;
      std::string pending;
      auto flush = [&] {
        if (pending.empty()) return;
        if (valid_utf8(pending)) {
          out.push_back(pending);
        } else {
          for (size_t k = 0; k < pending.size(); ++k) out.emplace_back("\xEF\xBF\xBD");
        }
        pending.clear();
      };
      for (std::string& t : tokens) {
        const int b = byte_token(t);
        if (b >= 0) {
          pending += static_cast<char>(b);
        } else {
          flush();
          out.push_back(std::move(t));
        }
      }
      flush();
      tokens = std::move(out);
      break;
    }
    case Kind::Fuse: {
      std::string all;
      for (const std::string& t : tokens) all += t;
      tokens.assign(1, std::move(all));
      break;
    }
    case Kind::Strip:
      for (std::string& t : tokens) {
        std::vector<uint32_t> chars;
        size_t k = 0;
        while (k < t.size()) chars.push_back(next_char(t, k));
        size_t a = 0, b = chars.size();
        for (size_t i = 0; i < strip_start && i < chars.size() && chars[i] == strip_char; ++i)
          a = i + 1;
        for (size_t i = 0; i < strip_stop && i < chars.size(); ++i) {
          const size_t idx = chars.size() - i - 1;
          if (chars[idx] != strip_char) break;
          b = idx;
        }
        std::string out;
        for (size_t i = a; i < std::max(a, b); ++i) append_utf8(out, chars[i]);
        t = std::move(out);
      }
      break;
    case Kind::Replace: {
      std::vector<Span> spans;
      for (std::string& t : tokens) {
        pattern.find_matches(t, spans);
        std::string out;
        for (const Span& s : spans) {
          if (s.match) {
            out += content;
          } else {
            out.append(t, s.start, s.end - s.start);
          }
        }
        t = std::move(out);
      }
      break;
    }
    case Kind::Sequence:
      for (const Decoder& d : children) d.apply(tokens);
      break;
  }
}

std::optional<Decoder> parse_decoder(const json& j, const JsonPath& at) {
  if (j.is_null()) return std::nullopt;
  const std::string type = type_of(j, at);
  Decoder d;
  using K = Decoder::Kind;
  if (type == "ByteLevel") {
    d.kind = K::ByteLevel;
  } else if (type == "Metaspace") {
    d.kind = K::Metaspace;
    d.replacement = char_field(j, "replacement", at);
    d.prepend_never = parse_prepend_scheme(j, at) == PreTokenizer::Prepend::Never;
  } else if (type == "ByteFallback") {
    d.kind = K::ByteFallback;
  } else if (type == "Fuse") {
    d.kind = K::Fuse;
  } else if (type == "Strip") {
    d.kind = K::Strip;
    d.strip_char = char_field(j, "content", at);
    auto count = [&](const char* key) {
      const json& v = field(j, key, at);
      if (!v.is_number_unsigned())
        runtime_error("{}.{}: expected a count >= 0, got {}", at.str(), key, v.dump());
      return v.get<size_t>();
    };
    d.strip_start = count("start");
    d.strip_stop = count("stop");
  } else if (type == "Replace") {
    d.kind = K::Replace;
    d.pattern = pattern_field(j, at);
    d.content = str_field(j, "content", at);
  } else if (type == "Sequence") {
    const json& list = field(j, "decoders", at);
    if (!list.is_array()) runtime_error("{}.decoders: expected an array", at.str());
    for (size_t i = 0; i < list.size(); ++i) {
      auto child = parse_decoder(list[i], at.at("decoders").at(i));
      if (child) d.children.push_back(std::move(*child));
    }
  } else {
    unsupported(at, type, "ByteLevel, Metaspace, ByteFallback, Fuse, Strip, Replace, Sequence");
  }
  return d;
}

}  // namespace ptune::hf
