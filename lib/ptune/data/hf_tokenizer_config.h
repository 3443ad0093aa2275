// What transformers reads beside tokenizer.json: tokenizer_config.json (special tokens,
// add_bos_token/add_eos_token, chat_template, or the chat_template.jinja file newer versions
// write) and generation_config.json (eos_token_id, one id or several: Llama-3 has three).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace ptune {

struct HfTokenizerConfig {
  // Token strings ("<|begin_of_text|>"); nullopt when absent or null.
  std::optional<std::string> bos_token, eos_token, pad_token;
  std::optional<bool> add_bos_token, add_eos_token;
  std::string chat_template;            // "" = none
  std::string chat_template_source;     // the file it came from
  std::vector<int64_t> generation_eos;  // generation_config.json eos_token_id(s)
  std::vector<std::string> files;       // the files read, to copy beside an export
};

// Reads `dir`'s tokenizer_config.json, chat_template.jinja and generation_config.json where
// present (none of them is required). A file that is not valid JSON or holds a field of the
// wrong type is a Runtime error naming the file and field.
HfTokenizerConfig read_hf_tokenizer_config(const std::string& dir);

}  // namespace ptune
