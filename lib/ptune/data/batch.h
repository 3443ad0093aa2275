// Training examples and batches: an Example's shifted targets, right-padded Batches, and the
// endless, resumable BatchIterator. Epoch e's order is std::shuffle with mt19937_64(seed + e),
// so a DataPosition {epoch, cursor} is all a resumed run needs to see the same batches.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <utility>
#include <vector>

namespace ptune {

class Dataset;

constexpr int64_t kIgnoreIndex = -100;

// One training sequence: targets[t] is the token predicted at position t (already
// shifted), or kIgnoreIndex. Same length as input_ids. positions: for windows that pack
// several documents, each token's position in its document (0 where one starts; attention
// stays within documents); empty = one document, positions 0..n-1.
struct Example {
  std::vector<int32_t> input_ids;
  std::vector<int32_t> targets;
  std::vector<int32_t> positions = {};
};

struct Batch {
  torch::Tensor input_ids;  // (B, T) int64, right-padded with pad id
  torch::Tensor targets;    // (B, T) int64, kIgnoreIndex at padding and masked positions
  torch::Tensor positions;  // (B, T) int64 when an example packs documents (padding: 0, each
                            // a document of its own), else undefined (ForwardArgs::positions)
  int64_t n_targets = 0;    // number of targets != kIgnoreIndex
  int64_t n_tokens = 0;     // number of non-padding input tokens
  std::vector<int64_t> row_tokens;  // non-padding input tokens of each row
};

// Stacks examples into a right-padded batch (T = longest example).
Batch collate(const std::vector<const Example*>& examples, int64_t pad_id);

// Rank `rank` of `world`'s share of a batch of `rows` rows: rows [first, second), as even as
// they come (the first ranks get no more than one row more than the last).
std::pair<int64_t, int64_t> shard_rows(int64_t rows, int rank, int world);

// Rows [begin, end) of `b` with their own counts: one rank's part of a global batch.
Batch batch_rows(const Batch& b, int64_t begin, int64_t end);

// Rank `rank` of `world`'s share of `global` (shard_rows): `global` itself in a one-process
// run, nullopt when the batch has fewer rows than ranks and this one gets none.
std::optional<Batch> rank_share(Batch global, int rank, int world);

// Calls f on the dataset in order, in batches of batch_size (the last may be smaller), the
// first max_batches only when > 0; one batch exists at a time. For evaluation.
void for_each_batch_in_order(const Dataset& data, int64_t batch_size, int64_t pad_id,
                             int64_t max_batches, const std::function<void(Batch&)>& f);

// Where a BatchIterator is: saved in checkpoints so a resumed run sees the same batches.
struct DataPosition {
  int64_t epoch = 0;
  int64_t cursor = 0;  // index into this epoch's order
};

// Endless iterator over shuffled epochs. The order of epoch e is a permutation drawn from
// mt19937_64(seed + e) by std::shuffle (identity without shuffle), so it depends only on
// (seed, epoch): resume restores it exactly. Batches are consecutive slices of the endless
// concatenation of epoch orders: every batch has batch_size examples, every example is seen
// once per epoch, and a batch that reaches the end of an epoch takes the rest from the next
// epoch's order (so position() may already be in the next epoch).
class BatchIterator {
 public:
  BatchIterator(const Dataset& data, int64_t batch_size, uint64_t seed, bool shuffle,
                int64_t pad_id);
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
