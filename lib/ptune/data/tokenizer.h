// The tokenizer of a model: SentencePiece (tokenizer.model, run in a dlopen()ed module, see
// sentencepiece_module.h) or Hugging Face's tokenizer.json (hf_tokenizer.h) with the
// tokenizer_config.json and generation_config.json beside it. Callers see one interface.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace ptune::spm {
class Model;
}

namespace ptune {

class HfTokenizer;

// False in sanitizer builds (PTUNE_SANITIZE), where SentencePiece's module cannot be loaded.
bool sentencepiece_available();

class Tokenizer {
 public:
  // `path`: a tokenizer.model or a tokenizer.json (told apart by content), or a model
  // directory, which is searched for tokenizer.json, then tokenizer.model. Runtime error
  // naming the path when it is unreadable or corrupt; Usage error when nothing is there or a
  // tokenizer.json component is not supported.
  static Tokenizer load(const std::string& path);
  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  ~Tokenizer();

  std::vector<int32_t> encode(const std::string& text) const;  // no BOS/EOS added
  std::string decode(const std::vector<int32_t>& ids) const;
  int64_t vocab_size() const;
  // The BOS a sequence starts with (SentencePiece's bos piece; the tokenizer.json
  // post-processor's prefix token), -1 when the tokenizer adds none (Qwen2, SmolLM2).
  int32_t bos_id() const;
  // The end-of-sequence id ending each document (tokenizer_config's eos_token, else
  // generation_config's first eos id); -1 when the tokenizer names none.
  int32_t eos_id() const;
  int32_t pad_id() const;  // the pad token, else eos_id (no pad piece)
  // Ids generation stops at: eos_id and every eos id of generation_config.json.
  std::vector<int64_t> stop_ids() const;
  std::optional<int32_t> token_id(const std::string& token) const;  // added/special tokens too
  // The BOS and EOS strings chat templates write ("<s>", "<|begin_of_text|>"); "" = none.
  const std::string& bos_token() const { return bos_token_; }
  const std::string& eos_token() const { return eos_token_; }
  const std::string& chat_template() const { return chat_template_; }  // "" = none
  // Files that make up this tokenizer (tokenizer.model; or tokenizer.json and the configs
  // read beside it), as (source path, file name) to copy beside an exported model.
  const std::vector<std::pair<std::string, std::string>>& files() const { return files_; }
  const std::string& path() const { return path_; }
  bool is_sentencepiece() const { return sp_ != nullptr; }

 private:
  Tokenizer() = default;
  std::unique_ptr<spm::Model> sp_;
  std::unique_ptr<HfTokenizer> hf_;
  std::string path_, chat_template_, bos_token_, eos_token_;
  int32_t bos_ = -1, eos_ = -1, pad_ = -1;
  std::vector<int64_t> stop_;
  std::vector<std::pair<std::string, std::string>> files_;
};

// SentencePiece training settings. The defaults are those of LLaMA's tokenizer (Touvron et
// al., 2023), so that llama.cpp and HF tokenizers read a ptune tokenizer as ptune does: text is
// kept exactly as written (no normalization, spaces as they are) and any character outside the
// vocabulary becomes UTF-8 byte pieces <0x00>..<0xFF>, so decode(encode(text)) == text.
struct TokenizerTrainOptions {
  std::string input;               // corpus, one sentence per line ("-" = stdin)
  std::string out;                 // output .model path (written atomically; .vocab beside it)
  int64_t vocab_size = 4096;       // all pieces, the 4 special and 256 byte pieces included
  std::string model_type = "bpe";  // bpe | unigram
  std::string normalization = "identity";    // identity | nmt_nfkc | nfkc | nmt_nfkc_cf | nfkc_cf
  bool byte_fallback = true;                 // unknown characters -> byte pieces instead of unk
  bool remove_extra_whitespaces = false;     // strip leading/trailing spaces, collapse runs of them
  bool add_dummy_prefix = true;              // a space before the text: "x" starts like " x"
  bool split_digits = true;                  // every digit a piece of its own
  bool allow_whitespace_only_pieces = true;  // pieces made of spaces only (indentation)
  bool split_by_unicode_script = true;       // no piece spans two scripts (e.g. Latin and CJK)
  double character_coverage = 0.99995;       // share of the corpus's characters that get a piece
  int64_t max_sentences = 2000000;
  int threads = 0;
};

// Trains with ids unk=0, bos=1, eos=2 (LLaMA's) and pad=3. LLaMA has no pad piece; ptune keeps
// one because a model trained from scratch takes pad_token_id from the tokenizer, and without a
// pad piece that would be EOS (Tokenizer::pad_id's fallback), the embedding's padding_idx:
// a zero EOS embedding that never trains.
void train_tokenizer(const TokenizerTrainOptions& o);

}  // namespace ptune
