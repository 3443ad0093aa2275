// BPE as HF tokenizers runs it (models/bpe/model.rs merge_word, word.rs merge_all): a word
// starts as one symbol per char (byte tokens or unk where the char is not in the vocab), then
// the lowest-rank mergeable pair is merged until none is left, ties going to the leftmost
// pair. The queue and its stale-entry check follow word.rs so that even odd merge tables
// (two merges yielding the same token) give HF's result.
#include "ptune/data/hf_bpe.h"

#include <algorithm>
#include <cstring>
#include <mutex>
#include <nlohmann/json.hpp>

#include "ptune/core/error.h"
#include "ptune/data/hf_tokenizer_parts.h"

namespace ptune::hf {

using json = nlohmann::json;

// ---- StrMap

namespace {

uint64_t hash_bytes(std::string_view s) {
  uint64_t h = 0x9E3779B97F4A7C15ull ^ (s.size() * 0xFF51AFD7ED558CCDull);
  size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    uint64_t v;
    std::memcpy(&v, s.data() + i, 8);
    h = (h ^ v) * 0xBF58476D1CE4E5B9ull;
    h ^= h >> 31;
  }
  if (i < s.size()) {
    uint64_t v = 0;
    std::memcpy(&v, s.data() + i, s.size() - i);
    h = (h ^ v) * 0x94D049BB133111EBull;
    h ^= h >> 29;
  }
  return h ^ (h >> 32);
}

}  // namespace

int32_t StrMap::find(std::string_view key) const {
  if (slots_.empty()) return -1;
  const uint64_t h = hash_bytes(key);
  const size_t mask = slots_.size() - 1;
  for (size_t i = h & mask;; i = (i + 1) & mask) {
    const Slot& s = slots_[i];
    if (s.value < 0) return -1;
    if (s.hash == h && s.len == key.size() &&
        std::memcmp(keys_.data() + s.off, key.data(), key.size()) == 0)
      return s.value;
  }
}

void StrMap::insert(std::string_view key, int32_t value) {
  if ((n_ + 1) * 2 > slots_.size()) grow();
  const uint64_t h = hash_bytes(key);
  const size_t mask = slots_.size() - 1;
  for (size_t i = h & mask;; i = (i + 1) & mask) {
    Slot& s = slots_[i];
    if (s.value < 0) {
      s = {h, static_cast<uint32_t>(keys_.size()), static_cast<uint32_t>(key.size()), value};
      keys_.append(key);
      ++n_;
      return;
    }
    if (s.hash == h && s.len == key.size() &&
        std::memcmp(keys_.data() + s.off, key.data(), key.size()) == 0) {
      s.value = value;
      return;
    }
  }
}

void StrMap::grow() {
  std::vector<Slot> old = std::move(slots_);
  slots_.assign(std::max<size_t>(16, old.size() * 2), Slot{});
  const size_t mask = slots_.size() - 1;
  for (const Slot& s : old) {
    if (s.value < 0) continue;
    size_t i = s.hash & mask;
    while (slots_[i].value >= 0) i = (i + 1) & mask;
    slots_[i] = s;
  }
}

void StrMap::clear() {
  slots_.clear();
  keys_.clear();
  n_ = 0;
}

// ---- Cache of words already merged

// Shared by all threads; taken with try_lock so a thread that finds it busy computes the word
// itself rather than wait. Cleared when full (results do not depend on it).
struct Bpe::Cache {
  static constexpr size_t kMaxWords = 1 << 17, kMaxWordBytes = 256;
  std::mutex mu;
  StrMap index;                                        // word -> entry
  std::vector<std::pair<uint32_t, uint32_t>> entries;  // (offset, count) in ids
  std::vector<int32_t> ids;
};

Bpe::Bpe() : cache_(std::make_unique<Cache>()) {
  std::fill(byte_ids_, byte_ids_ + 256, -1);
}
Bpe::Bpe(Bpe&&) noexcept = default;
Bpe& Bpe::operator=(Bpe&&) noexcept = default;
Bpe::~Bpe() = default;

// ---- Loading

namespace {

constexpr uint64_t kNoKey = ~0ull;

uint64_t pair_key(int32_t a, int32_t b) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
}

uint64_t bigram_key(uint32_t a, uint32_t b) {
  return (static_cast<uint64_t>(a) << 21) | b;
}

size_t pair_slot(uint64_t key, size_t mask) {
  uint64_t h = key * 0x9E3779B97F4A7C15ull;
  return (h ^ (h >> 29)) & mask;
}

std::optional<std::string> opt_str(const json& j, const char* key, const JsonPath& at) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::nullopt;
  if (!it->is_string())
    runtime_error("{}.{}: expected a string or null, got {}", at.str(), key, it->dump());
  return it->get<std::string>();
}

}  // namespace

Bpe Bpe::parse(const json& m, const JsonPath& at) {
  Bpe bpe;
  auto dropout = m.find("dropout");
  if (dropout != m.end() && !dropout->is_null()) {
    if (!dropout->is_number() || dropout->get<double>() != 0.0)
      usage_error(
          "tokenizer '{}': model.dropout {} is not supported (BPE dropout samples a different "
          "split each time; expected null)",
          *at.file, dropout->dump());
  }
  bpe.unk_token_ = opt_str(m, "unk_token", at);
  bpe.prefix_ = opt_str(m, "continuing_subword_prefix", at).value_or("");
  bpe.suffix_ = opt_str(m, "end_of_word_suffix", at).value_or("");
  bpe.fuse_unk_ = bool_field(m, "fuse_unk", at, false);
  bpe.byte_fallback_ = bool_field(m, "byte_fallback", at, false);
  bpe.ignore_merges_ = bool_field(m, "ignore_merges", at, false);

  const json& vocab = field(m, "vocab", at);
  if (!vocab.is_object()) runtime_error("{}.vocab: expected an object of token -> id", at.str());
  int64_t max_id = -1;
  for (auto it = vocab.begin(); it != vocab.end(); ++it) {
    if (!it.value().is_number_unsigned() || it.value().get<uint64_t>() > INT32_MAX)
      runtime_error("{}.vocab[\"{}\"]: expected an id >= 0, got {}", at.str(), it.key(),
                    it.value().dump());
    max_id = std::max<int64_t>(max_id, it.value().get<int64_t>());
  }
  // Tokens are looked up by id in tables of max_id + 1 entries: ids far beyond the number of
  // tokens would cost memory for nothing (2^31 ids: 64 GB) and are no real vocabulary.
  const int64_t n_entries = static_cast<int64_t>(vocab.size());
  const int64_t id_bound = 2 * n_entries + 65536;
  if (max_id >= id_bound)
    runtime_error(
        "{}.vocab: ids reach {} but there are only {} tokens; ids must be below {} "
        "(twice the tokens, plus 65536)",
        at.str(), max_id, n_entries, id_bound);
  bpe.id_to_token_.assign(static_cast<size_t>(max_id + 1), std::string());
  bpe.has_id_.assign(static_cast<size_t>(max_id + 1), false);
  for (auto it = vocab.begin(); it != vocab.end(); ++it) {
    const auto id = it.value().get<int32_t>();
    bpe.vocab_.insert(it.key(), id);
    bpe.id_to_token_[id] = it.key();
    bpe.has_id_[id] = true;
  }
  bpe.n_tokens_ = bpe.vocab_.size();
  bpe.chunking_ = bpe.prefix_.empty() && bpe.suffix_.empty();
  if (bpe.chunking_) {
    std::vector<uint64_t> pairs;
    for (auto it = vocab.begin(); it != vocab.end(); ++it) {
      const std::string& t = it.key();
      size_t i = 0;
      uint32_t prev = 0;
      for (bool first = true; i < t.size(); first = false) {
        const uint32_t c = next_char(t, i);
        if (!first) pairs.push_back(bigram_key(prev, c));
        prev = c;
      }
    }
    std::sort(pairs.begin(), pairs.end());
    pairs.erase(std::unique(pairs.begin(), pairs.end()), pairs.end());
    size_t cap = 16;
    while (cap < pairs.size() * 2) cap *= 2;
    bpe.bigrams_.assign(cap, kNoKey);
    for (uint64_t k : pairs) {
      size_t slot = pair_slot(k, cap - 1);
      while (bpe.bigrams_[slot] != kNoKey) slot = (slot + 1) & (cap - 1);
      bpe.bigrams_[slot] = k;
    }
  }
  for (int b = 0; b < 256; ++b) bpe.byte_ids_[b] = bpe.vocab_.find(fmt::format("<0x{:02X}>", b));
  if (bpe.unk_token_) bpe.unk_id_ = bpe.vocab_.find(*bpe.unk_token_);

  // Merges: ["a b", ...] (legacy) or [["a", "b"], ...]; a later duplicate replaces the earlier
  // one, as in HF's HashMap.
  const json& merges = field(m, "merges", at);
  if (!merges.is_array()) runtime_error("{}.merges: expected an array", at.str());
  size_t cap = 16;
  while (cap < merges.size() * 2) cap *= 2;
  bpe.merge_keys_.assign(cap, kNoKey);
  bpe.merge_vals_.assign(cap, 0);
  const size_t mask = cap - 1;
  uint32_t rank = 0;
  for (size_t i = 0; i < merges.size(); ++i) {
    const json& e = merges[i];
    std::string a, b;
    if (e.is_string()) {
      const std::string& line = e.get_ref<const std::string&>();
      if (line.rfind("#version", 0) == 0) continue;
      const size_t sp = line.find(' ');
      if (sp == std::string::npos || line.find(' ', sp + 1) != std::string::npos)
        runtime_error("{}.merges[{}]: expected \"left right\", got \"{}\"", at.str(), i, line);
      a = line.substr(0, sp);
      b = line.substr(sp + 1);
    } else if (e.is_array() && e.size() == 2 && e[0].is_string() && e[1].is_string()) {
      a = e[0].get<std::string>();
      b = e[1].get<std::string>();
    } else {
      runtime_error("{}.merges[{}]: expected \"left right\" or [\"left\", \"right\"], got {}",
                    at.str(), i, e.dump());
    }
    const std::string merged = a + b.substr(std::min(bpe.prefix_.size(), b.size()));
    const int32_t ia = bpe.vocab_.find(a), ib = bpe.vocab_.find(b), im = bpe.vocab_.find(merged);
    const std::pair<int32_t, const std::string*> parts[] = {{ia, &a}, {ib, &b}, {im, &merged}};
    for (const auto& [id, tok] : parts)
      if (id < 0)
        runtime_error("{}.merges[{}]: token \"{}\" is not in the vocab", at.str(), i, *tok);
    const uint64_t key = pair_key(ia, ib);
    size_t slot = pair_slot(key, mask);
    while (bpe.merge_keys_[slot] != kNoKey && bpe.merge_keys_[slot] != key)
      slot = (slot + 1) & mask;
    bpe.merge_keys_[slot] = key;
    bpe.merge_vals_[slot] = (static_cast<uint64_t>(rank) << 32) | static_cast<uint32_t>(im);
    ++rank;
  }
  return bpe;
}

bool Bpe::find_merge(int32_t a, int32_t b, uint32_t& rank, int32_t& merged) const {
  const uint64_t key = pair_key(a, b);
  const size_t mask = merge_keys_.size() - 1;
  for (size_t slot = pair_slot(key, mask);; slot = (slot + 1) & mask) {
    const uint64_t k = merge_keys_[slot];
    if (k == kNoKey) return false;
    if (k == key) {
      rank = static_cast<uint32_t>(merge_vals_[slot] >> 32);
      merged = static_cast<int32_t>(merge_vals_[slot] & 0xFFFFFFFFu);
      return true;
    }
  }
}

std::optional<int32_t> Bpe::token_to_id(std::string_view token) const {
  const int32_t id = vocab_.find(token);
  if (id < 0) return std::nullopt;
  return id;
}

const std::string* Bpe::id_to_token(int32_t id) const {
  if (id < 0 || static_cast<size_t>(id) >= id_to_token_.size() || !has_id_[id]) return nullptr;
  return &id_to_token_[id];
}

bool Bpe::has_bigram(uint32_t a, uint32_t b) const {
  const uint64_t key = bigram_key(a, b);
  const size_t mask = bigrams_.size() - 1;
  for (size_t slot = pair_slot(key, mask);; slot = (slot + 1) & mask) {
    if (bigrams_[slot] == key) return true;
    if (bigrams_[slot] == kNoKey) return false;
  }
}

// ---- Encoding

void Bpe::tokenize(std::string_view word, std::vector<int32_t>& out) const {
  if (word.empty()) return;
  if (ignore_merges_) {
    const int32_t id = vocab_.find(word);
    if (id >= 0) {
      out.push_back(id);
      return;
    }
  }
  if (!chunking_ || word.size() < Cache::kMaxWordBytes) {
    cached_merge(word, out);
    return;
  }
  // A long word: cut it where no merge can reach across (see bigrams_).
  size_t start = 0;
  uint32_t prev = 0;
  bool prev_known = false;
  for (size_t i = 0; i < word.size();) {
    const size_t b = i;
    const uint32_t c = next_char(word, i);
    const bool known = vocab_.find(word.substr(b, i - b)) >= 0;
    if (b > start && prev_known && known && !has_bigram(prev, c)) {
      cached_merge(word.substr(start, b - start), out);
      start = b;
    }
    prev = c;
    prev_known = known;
  }
  cached_merge(word.substr(start), out);
}

void Bpe::cached_merge(std::string_view word, std::vector<int32_t>& out) const {
  Cache& c = *cache_;
  const bool cacheable = word.size() < Cache::kMaxWordBytes;
  if (cacheable) {
    std::unique_lock<std::mutex> lock(c.mu, std::try_to_lock);
    if (lock.owns_lock()) {
      const int32_t e = c.index.find(word);
      if (e >= 0) {
        const auto [off, n] = c.entries[e];
        out.insert(out.end(), c.ids.begin() + off, c.ids.begin() + off + n);
        return;
      }
    }
  }
  const size_t first = out.size();
  merge_word(word, out);
  if (cacheable) {
    std::unique_lock<std::mutex> lock(c.mu, std::try_to_lock);
    if (lock.owns_lock()) {
      if (c.entries.size() >= Cache::kMaxWords) {
        c.index.clear();
        c.entries.clear();
        c.ids.clear();
      }
      c.index.insert(word, static_cast<int32_t>(c.entries.size()));
      c.entries.emplace_back(static_cast<uint32_t>(c.ids.size()),
                             static_cast<uint32_t>(out.size() - first));
      c.ids.insert(c.ids.end(), out.begin() + first, out.end());
    }
  }
}

namespace {

struct Symbol {
  int32_t id;
  int32_t prev, next;  // -1: none
  uint32_t len;        // bytes; 0 once merged into its left neighbour
};

struct Merge {
  uint32_t rank;
  uint32_t pos;
  int32_t merged;
};

// Orders the heap so the top is the lowest rank, then the leftmost position (word.rs Ord).
bool later(const Merge& a, const Merge& b) {
  return a.rank != b.rank ? a.rank > b.rank : a.pos > b.pos;
}

}  // namespace

void Bpe::merge_word(std::string_view w, std::vector<int32_t>& out) const {
  std::vector<Symbol> sym;
  sym.reserve(w.size());
  auto add = [&](int32_t id, uint32_t len) {
    const auto n = static_cast<int32_t>(sym.size());
    if (n > 0) sym.back().next = n;
    sym.push_back({id, n - 1, -1, len});
  };
  // (unk id, byte length) waiting to be added: with fuse_unk, runs of unknown chars become one.
  int32_t unk = -1;
  uint32_t unk_len = 0;
  std::string buf;
  for (size_t i = 0; i < w.size();) {
    const auto n = static_cast<uint32_t>(utf8_len(static_cast<unsigned char>(w[i])));
    std::string_view s = w.substr(i, n);
    const bool first = i == 0, last = i + n >= w.size();
    i += n;
    if ((!first && !prefix_.empty()) || (last && !suffix_.empty())) {
      buf.assign(first ? "" : prefix_);
      buf.append(s);
      if (last) buf.append(suffix_);
      s = buf;
    }
    const int32_t id = vocab_.find(s);
    if (id >= 0) {
      if (unk >= 0) {
        add(unk, unk_len);
        unk = -1;
      }
      add(id, n);
      continue;
    }
    if (byte_fallback_) {
      bool all = true;
      for (char b : s) all &= byte_ids_[static_cast<unsigned char>(b)] >= 0;
      if (all) {
        // As in HF, a pending unk is not flushed first: it lands after these bytes.
        for (char b : s) add(byte_ids_[static_cast<unsigned char>(b)], 1);
        continue;
      }
    }
    if (unk_token_) {
      if (unk_id_ < 0)
        runtime_error("tokenizer model: unk_token \"{}\" is not in the vocab", *unk_token_);
      if (unk >= 0 && fuse_unk_) {
        unk_len += n;
      } else {
        if (unk >= 0) add(unk, unk_len);
        unk = unk_id_;
        unk_len = n;
      }
    }
    // No unk token: the char is dropped, as HF does.
  }
  if (unk >= 0) add(unk, unk_len);

  std::vector<Merge> heap;
  heap.reserve(sym.size());
  uint32_t rank;
  int32_t merged;
  for (size_t i = 0; i + 1 < sym.size(); ++i)
    if (find_merge(sym[i].id, sym[i + 1].id, rank, merged))
      heap.push_back({rank, static_cast<uint32_t>(i), merged});
  std::make_heap(heap.begin(), heap.end(), later);
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), later);
    const Merge top = heap.back();
    heap.pop_back();
    Symbol& cur = sym[top.pos];
    if (cur.len == 0 || cur.next < 0) continue;
    const int32_t ri = cur.next;
    const Symbol right = sym[ri];
    // Skip stale entries: the pair here changed since this entry was queued.
    if (!find_merge(cur.id, right.id, rank, merged) || merged != top.merged) continue;
    cur.id = top.merged;
    cur.len += right.len;
    cur.next = right.next;
    sym[ri].len = 0;
    if (right.next >= 0) sym[right.next].prev = static_cast<int32_t>(top.pos);
    if (cur.prev >= 0 && find_merge(sym[cur.prev].id, cur.id, rank, merged)) {
      heap.push_back({rank, static_cast<uint32_t>(cur.prev), merged});
      std::push_heap(heap.begin(), heap.end(), later);
    }
    if (cur.next >= 0 && find_merge(cur.id, sym[cur.next].id, rank, merged)) {
      heap.push_back({rank, top.pos, merged});
      std::push_heap(heap.begin(), heap.end(), later);
    }
  }
  for (const Symbol& s : sym)
    if (s.len != 0) out.push_back(s.id);
}

}  // namespace ptune::hf
