// The normalizers and pre-tokenizers of a tokenizer.json (HF normalizers/*.rs,
// pre_tokenizers/*.rs), each built from its JSON object, the Piece of text they pass along, and
// the JSON field helpers the engine's parsers share. Internal to lib/ptune/data/hf_*.cpp.
#pragma once

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

#include "ptune/data/hf_regex.h"

namespace ptune::hf {

// Typed field access; a missing or mistyped field is a corrupt file (runtime error naming it).
const nlohmann::json& field(const nlohmann::json& j, const char* key, const JsonPath& at);
std::string str_field(const nlohmann::json& j, const char* key, const JsonPath& at);
bool bool_field(const nlohmann::json& j, const char* key, const JsonPath& at, bool dflt);
std::string type_of(const nlohmann::json& j, const JsonPath& at);                   // j["type"]
uint32_t char_field(const nlohmann::json& j, const char* key, const JsonPath& at);  // one char
// {"String": "..."} or {"Regex": "..."} (HF's SplitPattern / ReplacePattern) at j["pattern"].
Regex pattern_field(const nlohmann::json& j, const JsonPath& at);
// A component type ptune does not implement: usage error naming it, the file and the
// `supported` alternatives.
[[noreturn]] void unsupported(const JsonPath& at, const std::string& type, const char* supported);

// ---- Pieces of the text on their way through the pipeline

// A part of the input: normalized text, or an added token already resolved to an id.
// `origin` is kept only when a component needs original offsets (Metaspace's
// prepend_scheme "first" asks whether a piece starts at offset 0 of the input): for each byte,
// the original offset of the char it came from, following HF's alignment rules.
struct Piece {
  std::string text;
  int32_t token = -1;            // >= 0: an added token, passed to the output as is
  uint32_t shift = 0;            // original offset of the piece's start (HF's original_shift)
  std::vector<uint32_t> origin;  // empty unless tracking
};

// The part [a, b) of a tracked or untracked piece.
Piece slice(const Piece& p, size_t a, size_t b);

// ---- Normalizers (HF normalizers/*.rs)

struct Normalizer {
  enum class Kind { NFC, NFD, NFKC, NFKD, Lowercase, Strip, Prepend, Replace, Sequence };
  Kind kind = Kind::Sequence;
  std::string content;  // Prepend: the prefix; Replace: the replacement
  Regex pattern;        // Replace
  bool strip_left = false, strip_right = false;
  std::vector<Normalizer> children;  // Sequence

  void apply(Piece& p) const;
};
// nullopt for a JSON null (no normalizer).
std::optional<Normalizer> parse_normalizer(const nlohmann::json& j, const JsonPath& at);

// ---- Pre-tokenizers (HF pre_tokenizers/*.rs)

enum class SplitBehavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };

struct PreTokenizer {
  enum class Kind { ByteLevel, Split, Metaspace, Digits, Sequence };
  enum class Prepend { Always, First, Never };
  Kind kind = Kind::Sequence;
  bool add_prefix_space = false, use_regex = true;  // ByteLevel
  Regex pattern;                                    // Split; ByteLevel's GPT-2 regex
  SplitBehavior behavior = SplitBehavior::Isolated;
  bool invert = false;                      // Split
  uint32_t replacement = 0x2581;            // Metaspace ('▁')
  std::string replacement_utf8 = "\u2581";  // Metaspace
  Prepend prepend = Prepend::Always;        // Metaspace
  bool split = true;                        // Metaspace
  bool individual_digits = false;           // Digits
  std::vector<PreTokenizer> children;       // Sequence

  // Splits and rewrites every piece that is not an added token; empty pieces are dropped.
  void apply(std::vector<Piece>& pieces) const;
  bool needs_origin() const;  // some Metaspace with prepend_scheme "first"
};
std::optional<PreTokenizer> parse_pre_tokenizer(const nlohmann::json& j, const JsonPath& at);
// Metaspace's prepend_scheme, with the legacy add_prefix_space field (HF metaspace.rs: false
// means "never"; contradicting an explicit prepend_scheme is an error). Also read by the
// Metaspace decoder.
PreTokenizer::Prepend parse_prepend_scheme(const nlohmann::json& j, const JsonPath& at);

// GPT-2's byte -> char map (HF byte_level.rs bytes_char): printable bytes map to themselves,
// the others to U+0100 + n.
const std::vector<uint32_t>& bytes_to_chars();

}  // namespace ptune::hf
