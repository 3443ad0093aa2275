// Batching (see batch.h).
#include "ptune/data/batch.h"

#include <algorithm>
#include <numeric>
#include <random>

#include "ptune/core/error.h"
#include "ptune/data/dataset.h"

namespace ptune {

Batch collate(const std::vector<const Example*>& examples, int64_t pad_id) {
  PTUNE_CHECK(!examples.empty(), "collate needs at least one example");
  const int64_t B = static_cast<int64_t>(examples.size());
  int64_t T = 0;
  for (const Example* e : examples) {
    PTUNE_CHECK(e->input_ids.size() == e->targets.size(), "example has {} inputs but {} targets",
                e->input_ids.size(), e->targets.size());
    T = std::max<int64_t>(T, static_cast<int64_t>(e->input_ids.size()));
  }
  Batch b;
  const bool packed = std::any_of(examples.begin(), examples.end(),
                                  [](const Example* e) { return !e->positions.empty(); });
  if (packed) b.positions = torch::zeros({B, T}, torch::kInt64);
  b.input_ids = torch::full({B, T}, pad_id, torch::kInt64);      // (B, T)
  b.targets = torch::full({B, T}, kIgnoreIndex, torch::kInt64);  // (B, T)
  auto in = b.input_ids.accessor<int64_t, 2>();
  auto tg = b.targets.accessor<int64_t, 2>();
  for (int64_t i = 0; i < B; ++i) {
    const Example& e = *examples[i];
    for (size_t t = 0; t < e.input_ids.size(); ++t) {
      in[i][t] = e.input_ids[t];
      tg[i][t] = e.targets[t];
      b.n_targets += e.targets[t] != kIgnoreIndex;
    }
    b.n_tokens += static_cast<int64_t>(e.input_ids.size());
    b.row_tokens.push_back(static_cast<int64_t>(e.input_ids.size()));
    if (!packed) continue;
    PTUNE_CHECK(e.positions.empty() || e.positions.size() == e.input_ids.size(),
                "example has {} inputs but {} positions", e.input_ids.size(), e.positions.size());
    auto pos = b.positions.accessor<int64_t, 2>();
    for (size_t t = 0; t < e.input_ids.size(); ++t)
      pos[i][t] = e.positions.empty() ? static_cast<int64_t>(t) : e.positions[t];
  }
  return b;
}

std::pair<int64_t, int64_t> shard_rows(int64_t rows, int rank, int world) {
  return {rows * rank / world, rows * (rank + 1) / world};
}

Batch batch_rows(const Batch& b, int64_t begin, int64_t end) {
  PTUNE_CHECK(0 <= begin && begin < end && end <= b.input_ids.size(0),
              "rows [{}, {}) of a batch of {}", begin, end, b.input_ids.size(0));
  Batch out;
  out.input_ids = b.input_ids.slice(0, begin, end);
  out.targets = b.targets.slice(0, begin, end);
  if (b.positions.defined()) out.positions = b.positions.slice(0, begin, end);
  out.n_targets = out.targets.ne(kIgnoreIndex).sum().item<int64_t>();
  out.row_tokens.assign(b.row_tokens.begin() + begin, b.row_tokens.begin() + end);
  for (int64_t n : out.row_tokens) out.n_tokens += n;
  return out;
}

std::optional<Batch> rank_share(Batch global, int rank, int world) {
  if (world <= 1) return global;
  const auto [lo, hi] = shard_rows(global.input_ids.size(0), rank, world);
  if (lo == hi) return std::nullopt;
  return batch_rows(global, lo, hi);
}

void for_each_batch_in_order(const Dataset& data, int64_t batch_size, int64_t pad_id,
                             int64_t max_batches, const std::function<void(Batch&)>& f) {
  int64_t batches = 0;
  for (size_t start = 0; start < data.size(); start += batch_size) {
    if (max_batches > 0 && batches++ >= max_batches) break;
    std::vector<const Example*> chunk;
    for (size_t i = start; i < std::min(data.size(), start + batch_size); ++i)
      chunk.push_back(&data[i]);
    Batch b = collate(chunk, pad_id);
    f(b);
  }
}

BatchIterator::BatchIterator(const Dataset& data, int64_t batch_size, uint64_t seed, bool shuffle,
                             int64_t pad_id)
    : data_(data), batch_size_(batch_size), seed_(seed), shuffle_(shuffle), pad_id_(pad_id) {
  PTUNE_CHECK(data.size() > 0, "BatchIterator over an empty dataset");
  PTUNE_CHECK(batch_size > 0, "batch_size must be > 0, got {}", batch_size);
  build_order();
}

void BatchIterator::build_order() {
  order_.resize(data_.size());
  std::iota(order_.begin(), order_.end(), size_t{0});
  if (shuffle_) {
    std::mt19937_64 rng(seed_ + static_cast<uint64_t>(pos_.epoch));
    std::shuffle(order_.begin(), order_.end(), rng);
  }
}

Batch BatchIterator::next() {
  std::vector<const Example*> picked;
  picked.reserve(batch_size_);
  const int64_t n = static_cast<int64_t>(data_.size());
  while (static_cast<int64_t>(picked.size()) < batch_size_) {
    if (pos_.cursor >= n) {  // epoch done: the rest of the batch comes from the next one
      ++pos_.epoch;
      pos_.cursor = 0;
      build_order();
    }
    picked.push_back(&data_[order_[pos_.cursor++]]);
  }
  return collate(picked, pad_id_);
}

void BatchIterator::set_position(const DataPosition& p) {
  if (p.epoch < 0 || p.cursor < 0 || p.cursor > static_cast<int64_t>(data_.size()))
    usage_error(
        "data position (epoch {}, cursor {}) does not fit a dataset of {} examples; "
        "was the checkpoint made with different data?",
        p.epoch, p.cursor, data_.size());
  pos_ = p;
  build_order();
}

}  // namespace ptune
