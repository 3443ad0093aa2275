// A Hugging Face `tokenizer.json` tokenizer (the format of HF tokenizers >= 0.10), giving the
// same ids as HF's own library for the BPE family: GPT-2/Llama-3/Qwen style byte-level BPE and
// SentencePiece-converted BPE with byte fallback (Llama-2, Mistral). Components ptune does not
// implement (WordPiece/Unigram models, the Precompiled normalizer, ...) are refused at load,
// naming the component, never approximated. The file's truncation and padding settings are
// ignored: ptune truncates and packs sequences itself.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ptune {

class HfTokenizer {
 public:
  // Runtime error for an unreadable or corrupt file, usage error for a component ptune does
  // not support; both name the path.
  static HfTokenizer load(const std::string& path);
  HfTokenizer(HfTokenizer&&) noexcept;
  HfTokenizer& operator=(HfTokenizer&&) noexcept;
  ~HfTokenizer();

  // Added tokens (e.g. "<|eot_id|>") in the text are recognised, but the post-processor's
  // specials (BOS/EOS) are not added. Invalid UTF-8 is read as Rust's from_utf8_lossy does:
  // each maximal invalid sequence becomes U+FFFD (HF's bindings only take valid strings).
  // Thread-safe.
  std::vector<int32_t> encode(std::string_view text) const;
  // template_prefix() + encode(text) + template_suffix(): HF's add_special_tokens=true.
  std::vector<int32_t> encode_with_specials(std::string_view text) const;
  // Ids outside [0, vocab_size()) are a usage error; ids inside it that name no token are
  // skipped, as HF does. skip_special drops added tokens marked special.
  std::string decode(const std::vector<int32_t>& ids, bool skip_special = false) const;

  int64_t vocab_size() const;  // max id + 1 over the model vocab and the added tokens
  std::optional<int32_t> token_to_id(std::string_view token) const;
  std::string id_to_token(int32_t id) const;  // "" if no token has this id
  // Ids the post-processor's single-sequence template puts before / after the text
  // (Llama-3: {128000} and {}); empty without a TemplateProcessing.
  std::vector<int32_t> template_prefix() const;
  std::vector<int32_t> template_suffix() const;
  const std::string& path() const;

 private:
  struct Impl;
  explicit HfTokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ptune
