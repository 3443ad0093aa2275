// SentencePiece tokenizer. SentencePiece itself runs in a dlopen()ed module (see
// sentencepiece_module.h); nothing here or in users of this header sees its headers.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace ptune::spm { class Model; }

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

struct TokenizerTrainOptions {
  std::string input;          // corpus, one sentence per line ("-" = stdin)
  std::string out;            // output .model path (written atomically; .vocab beside it)
  int64_t vocab_size = 4096;
  std::string model_type = "bpe";  // bpe | unigram
  double character_coverage = 1.0;
  int64_t max_sentences = 2000000;
  int threads = 0;
};

// Trains with ids unk=0, bos=1, eos=2, pad=3 (LLaMA's first three, plus a pad).
void train_tokenizer(const TokenizerTrainOptions& o);

}  // namespace ptune
