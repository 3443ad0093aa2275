// The BPE model of a tokenizer.json (HF tokenizers models/bpe): vocab, ranked merges applied
// lowest rank first exactly as HF's word.rs does, byte fallback to <0xNN> tokens, unk (fused or
// not), continuing_subword_prefix / end_of_word_suffix, and ignore_merges (Llama-3). Words seen
// before are answered from a cache. Internal to hf_tokenizer.cpp.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ptune/data/hf_regex.h"

namespace ptune::hf {

// String -> int32 hash map with string_view lookups (open addressing, keys in one arena).
class StrMap {
 public:
  int32_t find(std::string_view key) const;          // -1 if absent
  void insert(std::string_view key, int32_t value);  // replaces an existing value
  size_t size() const { return n_; }
  void clear();

 private:
  struct Slot {
    uint64_t hash = 0;
    uint32_t off = 0, len = 0;
    int32_t value = -1;  // -1: empty slot
  };
  void grow();
  std::vector<Slot> slots_;
  std::string keys_;
  size_t n_ = 0;
};

class Bpe {
 public:
  static Bpe parse(const nlohmann::json& model, const JsonPath& at);
  Bpe();
  Bpe(Bpe&&) noexcept;
  Bpe& operator=(Bpe&&) noexcept;
  ~Bpe();

  // Appends the ids of one pre-tokenized word.
  void tokenize(std::string_view word, std::vector<int32_t>& out) const;
  std::optional<int32_t> token_to_id(std::string_view token) const;
  const std::string* id_to_token(int32_t id) const;  // nullptr if no token has this id
  size_t size() const { return n_tokens_; }          // number of vocab entries (HF's len)
  int32_t max_id() const { return static_cast<int32_t>(id_to_token_.size()) - 1; }

 private:
  struct Cache;
  void cached_merge(std::string_view word, std::vector<int32_t>& out) const;
  void merge_word(std::string_view word, std::vector<int32_t>& out) const;

  StrMap vocab_;
  std::vector<std::string> id_to_token_;
  std::vector<bool> has_id_;
  size_t n_tokens_ = 0;
  // merges: (left id << 32 | right id) -> (rank << 32 | merged id), open addressing
  std::vector<uint64_t> merge_keys_, merge_vals_;
  std::optional<std::string> unk_token_;
  int32_t unk_id_ = -1;
  bool fuse_unk_ = false, byte_fallback_ = false, ignore_merges_ = false;
  std::string prefix_, suffix_;  // continuing_subword_prefix, end_of_word_suffix ("" = none)
  int32_t byte_ids_[256];        // <0xNN> tokens, -1 where missing
  // Every pair of adjacent chars inside some vocab token, as (c1 << 21 | c2), open addressing.
  // Between two chars that are tokens themselves and form no such pair, no merge can ever
  // apply, so a long word is merged as independent chunks (each cached): same result, and
  // SentencePiece-style tokenizers, whose whole text is one word, get the cache's speed.
  std::vector<uint64_t> bigrams_;
  bool chunking_ = false;
  bool has_bigram(uint32_t a, uint32_t b) const;
  std::unique_ptr<Cache> cache_;

  bool find_merge(int32_t a, int32_t b, uint32_t& rank, int32_t& merged) const;
};

}  // namespace ptune::hf
