// SentencePiece tokenizer. SentencePiece itself runs in a dlopen()ed module (see
// sentencepiece_module.h); nothing here or in users of this header sees its headers.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace ptune::spm {
class Model;
}

namespace ptune {

class Tokenizer {
 public:
  static Tokenizer load(const std::string& model_path);  // Runtime error naming the path
  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  ~Tokenizer();

  std::vector<int32_t> encode(const std::string& text) const;  // no BOS/EOS added
  std::string decode(const std::vector<int32_t>& ids) const;
  int64_t vocab_size() const;
  int32_t bos_id() const;
  int32_t eos_id() const;
  int32_t pad_id() const;  // falls back to eos_id when the model has no pad piece
  const std::string& path() const { return path_; }

 private:
  Tokenizer() = default;
  std::unique_ptr<spm::Model> sp_;
  std::string path_;
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
