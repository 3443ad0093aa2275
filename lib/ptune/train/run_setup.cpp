// Tokenizer preparation and model-config resolution.
#include "ptune/train/run_setup.h"

#include <filesystem>

#include "ptune/core/error.h"
#include "ptune/core/log.h"
#include "ptune/io/checkpoint.h"

namespace ptune {

Tokenizer prepare_tokenizer(const TokenizerConfig& t) {
  if (!std::filesystem::exists(t.path)) {
    if (t.train_from.empty())
      usage_error(
          "tokenizer.path: '{}' does not exist (set tokenizer.train_from to train it first)",
          t.path);
    PTUNE_INFO("training tokenizer {} (vocab {}) from {}", t.path, t.vocab_size, t.train_from);
    const auto parent = std::filesystem::path(t.path).parent_path();
    if (!parent.empty()) std::filesystem::create_directories(parent);
    TokenizerTrainOptions o;
    o.input = t.train_from;
    o.out = t.path;
    o.vocab_size = t.vocab_size;
    train_tokenizer(o);
  }
  return Tokenizer::load(t.path);
}

ModelConfig resolve_model_config(const ModelSource& m, const Tokenizer& tok) {
  ModelConfig c;
  if (!m.path.empty()) {
    c = read_checkpoint_config(m.path);
  } else {
    c = m.arch;
    if (c.vocab_size <= 0) c.vocab_size = tok.vocab_size();
    c.bos_token_id = tok.bos_id();
    c.eos_token_id = tok.eos_id();
    c.pad_token_id = tok.pad_id();
  }
  if (c.vocab_size < tok.vocab_size())
    usage_error("model vocab_size ({}) is smaller than the tokenizer's ({}, {})", c.vocab_size,
                tok.vocab_size(), tok.path());
  validate(c);
  return c;
}

}  // namespace ptune
