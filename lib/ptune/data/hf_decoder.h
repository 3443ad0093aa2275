// The decoders of a tokenizer.json (HF decoders/*.rs): ByteLevel, Metaspace, ByteFallback,
// Fuse, Strip, Replace and Sequence. Internal to hf_tokenizer.cpp.
#pragma once

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

#include "ptune/data/hf_regex.h"

namespace ptune::hf {

// A decoder turns the token strings into other strings (HF's decode_chain).
struct Decoder {
  enum class Kind { ByteLevel, Metaspace, ByteFallback, Fuse, Strip, Replace, Sequence };
  Kind kind = Kind::Sequence;
  uint32_t replacement = 0x2581;           // Metaspace
  bool prepend_never = false;              // Metaspace
  uint32_t strip_char = ' ';               // Strip
  size_t strip_start = 0, strip_stop = 0;  // Strip
  Regex pattern;                           // Replace
  std::string content;                     // Replace
  std::vector<Decoder> children;           // Sequence

  void apply(std::vector<std::string>& tokens) const;  // HF's decode_chain
};
std::optional<Decoder> parse_decoder(const nlohmann::json& j, const JsonPath& at);

}  // namespace ptune::hf
