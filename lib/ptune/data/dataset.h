// Training/eval datasets and batching. Three formats (recipe data.*.format):
//  text     - one document per non-empty line; tokenized, BOS+doc+EOS, concatenated and
//             packed into seq_len windows (targets are the next tokens; every position
//             predicts, across document boundaries, as in HF run_clm packing).
//  instruct - JSONL {prompt, response}; template applied to the prompt; one example per
//             record, truncated to seq_len; loss only on response tokens (+ EOS).
//  tokens   - JSONL {"input_ids": [...], optional "labels": [...] (HF convention: same
//             length as input_ids, -100 = ignore, shifted inside) or "loss_mask": [0/1...]
//             (1 = token t is a prediction target)}.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "ptune/config/recipe.h"

namespace ptune {

class Tokenizer;

constexpr int64_t kIgnoreIndex = -100;

// One training sequence: targets[t] is the token predicted at position t (already
// shifted), or kIgnoreIndex. Same length as input_ids.
struct Example {
  std::vector<int32_t> input_ids;
  std::vector<int32_t> targets;
};

struct Batch {
  torch::Tensor input_ids;  // (B, T) int64, right-padded with pad id
  torch::Tensor targets;    // (B, T) int64, kIgnoreIndex at padding and masked positions
  int64_t n_targets = 0;    // number of targets != kIgnoreIndex
  int64_t n_tokens = 0;     // number of non-padding input tokens
};

class Dataset {
 public:
  // `tok` may be null for the tokens format. Errors name the file and line.
  static Dataset load(const DataSource& src, const Tokenizer* tok, int64_t seq_len, bool add_bos);
  static Dataset from_examples(std::vector<Example> examples);
  size_t size() const { return examples_.size(); }
  const Example& operator[](size_t i) const { return examples_[i]; }
  int64_t total_targets() const;

 private:
  std::vector<Example> examples_;
};

// Stacks examples into a right-padded batch (T = longest example).
Batch collate(const std::vector<const Example*>& examples, int64_t pad_id);

// Where a BatchIterator is: saved in checkpoints so a resumed run sees the same batches.
struct DataPosition {
  int64_t epoch = 0;
  int64_t cursor = 0;  // index into this epoch's order
};

// Endless iterator over shuffled epochs. The order of epoch e is a permutation drawn from
// mt19937_64(seed + e), so it depends only on (seed, epoch): resume restores it exactly.
class BatchIterator {
 public:
  BatchIterator(const Dataset& data, int64_t batch_size, uint64_t seed, bool shuffle, int64_t pad_id);
  Batch next();
  DataPosition position() const { return pos_; }
  void set_position(const DataPosition& p);

 private:
  void build_order();
  const Dataset& data_;
  int64_t batch_size_;
  uint64_t seed_;
  bool shuffle_;
  int64_t pad_id_;
  DataPosition pos_;
  std::vector<size_t> order_;
};

}  // namespace ptune
