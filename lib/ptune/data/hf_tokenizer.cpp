// HfTokenizer: reads a tokenizer.json and runs HF tokenizers' encode pipeline (tokenizer/mod.rs
// encode_single_sequence): added tokens are split out of the raw text, the rest is normalized,
// normalized added tokens are split out of that, then pre-tokenization and the BPE model.
// Added tokens follow added_vocabulary.rs, including its id assignment (the JSON `id` is not
// read: a token takes its model-vocab id if it has one, else the next id after the vocab).
#include "ptune/data/hf_tokenizer.h"

#include <unicode/uchar.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <tuple>
#include <unordered_map>
#include <unordered_set>

#include "ptune/core/error.h"
#include "ptune/core/json.h"
#include "ptune/data/hf_bpe.h"
#include "ptune/data/hf_decoder.h"
#include "ptune/data/hf_tokenizer_parts.h"

namespace ptune {

using json = nlohmann::json;
using hf::JsonPath;
using hf::Piece;

namespace {

// ---- Added tokens (HF tokenizer/added_vocabulary.rs)

struct AddedToken {
  std::string content;
  bool single_word = false, lstrip = false, rstrip = false, normalized = true, special = false;
};

// Byte trie over the added tokens' patterns, matched leftmost-longest as HF's Aho-Corasick
// (daachorse, MatchKind::LeftmostLongest) does: the earliest start wins, then the longest.
class Trie {
 public:
  bool empty() const { return nodes_.size() <= 1; }
  // False if `pattern` is already there (HF refuses duplicate patterns).
  bool insert(std::string_view pattern, int32_t id) {
    uint32_t n = 0;
    for (char ch : pattern) {
      const auto c = static_cast<unsigned char>(ch);
      uint32_t next = child(n, c);
      if (next == 0) {
        next = static_cast<uint32_t>(nodes_.size());
        if (n == 0) {
          root_[c] = next;
        } else {
          nodes_[n].children.emplace_back(c, next);
        }
        nodes_.emplace_back();
      }
      n = next;
    }
    if (nodes_[n].id >= 0) return false;
    nodes_[n].id = id;
    return true;
  }
  struct Match {
    size_t start, end;
    int32_t id;
  };
  void find_all(std::string_view s, std::vector<Match>& out) const {
    out.clear();
    for (size_t i = 0; i < s.size();) {
      if (root_[static_cast<unsigned char>(s[i])] == 0) {
        ++i;
        continue;
      }
      uint32_t n = 0;
      int32_t best = -1;
      size_t best_end = 0;
      for (size_t k = i; k < s.size(); ++k) {
        n = child(n, static_cast<unsigned char>(s[k]));
        if (n == 0) break;
        if (nodes_[n].id >= 0) {
          best = nodes_[n].id;
          best_end = k + 1;
        }
      }
      if (best >= 0) {
        out.push_back({i, best_end, best});
        i = best_end;
      } else {
        ++i;
      }
    }
  }

 private:
  struct Node {
    int32_t id = -1;
    std::vector<std::pair<unsigned char, uint32_t>> children;
  };
  uint32_t child(uint32_t n, unsigned char c) const {
    if (n == 0) return root_[c];
    for (const auto& [b, next] : nodes_[n].children)
      if (b == c) return next;
    return 0;
  }
  std::vector<Node> nodes_ = std::vector<Node>(1);  // [0]: the root, whose children are root_
  uint32_t root_[256] = {};                         // 0: no pattern starts with this byte
};

// Rust regex's Unicode \w (UTS #18), used by single_word.
bool is_word_char(uint32_t c) {
  if (c < 0x80)
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
  const auto u = static_cast<UChar32>(c);
  return u_hasBinaryProperty(u, UCHAR_ALPHABETIC) ||
         (U_GET_GC_MASK(u) & (U_GC_M_MASK | U_GC_ND_MASK | U_GC_PC_MASK)) != 0 ||
         u_hasBinaryProperty(u, UCHAR_JOIN_CONTROL);
}

uint32_t last_char(std::string_view s) {
  size_t i = s.size() - 1;
  while (i > 0 && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) --i;
  return hf::next_char(s, i);
}

// ---- Post-processor templates (HF processors/template.rs), reduced to what the single
// template adds around the text.

struct Template {
  std::vector<int32_t> prefix, suffix;
};

void parse_post_processor(const json& j, const JsonPath& at, Template& t) {
  if (j.is_null()) return;
  const std::string type = hf::type_of(j, at);
  if (type == "ByteLevel") return;  // only trims offsets; ids unchanged
  if (type == "Sequence") {
    const json& list = hf::field(j, "processors", at);
    if (!list.is_array()) runtime_error("{}.processors: expected an array", at.str());
    for (size_t i = 0; i < list.size(); ++i)
      parse_post_processor(list[i], at.at("processors").at(i), t);
    return;
  }
  if (type != "TemplateProcessing")
    usage_error(
        "tokenizer '{}': {} type '{}' is not supported (supported: TemplateProcessing, ByteLevel, "
        "Sequence)",
        *at.file, at.where, type);
  const json& specials = hf::field(j, "special_tokens", at);
  const json& single = hf::field(j, "single", at);
  if (!single.is_array()) runtime_error("{}.single: expected an array", at.str());
  std::vector<int32_t> before, after;
  int n_seq = 0;
  for (size_t i = 0; i < single.size(); ++i) {
    const json& piece = single[i];
    const JsonPath pat = at.at("single").at(i);
    if (piece.contains("Sequence")) {
      if (hf::str_field(piece["Sequence"], "id", pat) != "A")
        usage_error("{}: the single-sequence template can only hold $A", pat.str());
      ++n_seq;
    } else if (piece.contains("SpecialToken")) {
      const std::string id = hf::str_field(piece["SpecialToken"], "id", pat);
      auto it = specials.find(id);
      if (it == specials.end())
        runtime_error("{}: special token \"{}\" is not in {}.special_tokens", pat.str(), id,
                      at.where);
      const json& ids = hf::field(*it, "ids", at.at("special_tokens").at(id));
      for (const json& v : ids) {
        if (!v.is_number_unsigned() || v.get<uint64_t>() > INT32_MAX)
          runtime_error("{}: special token \"{}\" has id {}, expected an id >= 0", pat.str(), id,
                        v.dump());
        (n_seq == 0 ? before : after).push_back(v.get<int32_t>());
      }
    } else {
      runtime_error("{}: expected {{\"Sequence\": ...}} or {{\"SpecialToken\": ...}}, got {}",
                    pat.str(), piece.dump());
    }
  }
  if (n_seq != 1) usage_error("{}.single: expected exactly one $A, got {}", at.str(), n_seq);
  // An outer processor wraps what the inner ones produced.
  t.prefix.insert(t.prefix.begin(), before.begin(), before.end());
  t.suffix.insert(t.suffix.end(), after.begin(), after.end());
}

}  // namespace

struct HfTokenizer::Impl {
  std::string path;
  hf::Bpe model;
  std::optional<hf::Normalizer> normalizer;
  std::optional<hf::PreTokenizer> pre_tokenizer;
  std::optional<hf::Decoder> decoder;
  Template post;
  bool track_origin = false;
  int64_t vocab_size = 0;

  // Added vocabulary: content -> id, id -> token, id -> normalized content (when it differs).
  std::unordered_map<std::string, int32_t> added_ids;
  std::unordered_map<int32_t, AddedToken> added;
  std::unordered_map<int32_t, std::string> added_normalized;
  std::unordered_set<std::string> special_contents;
  Trie raw_trie, normalized_trie;  // tokens with normalized false / true

  void add_tokens(const json& list, const JsonPath& at);
  void split_added(std::vector<Piece>& pieces, const Trie& trie) const;
  std::optional<int32_t> token_id(std::string_view s) const {
    auto it = added_ids.find(std::string(s));
    if (it != added_ids.end()) return it->second;
    return model.token_to_id(s);
  }
  const std::string* token_of(int32_t id) const {
    auto n = added_normalized.find(id);
    if (n != added_normalized.end()) return &n->second;
    auto a = added.find(id);
    if (a != added.end()) return &a->second.content;
    return model.id_to_token(id);
  }
};

void HfTokenizer::Impl::add_tokens(const json& list, const JsonPath& at) {
  if (!list.is_array()) runtime_error("{}: expected an array", at.str());
  // HF AddedVocabulary::add_tokens: ids come from the model vocab, else count on from its size.
  auto next_id = static_cast<int32_t>(model.size());
  for (size_t i = 0; i < list.size(); ++i) {
    const json& j = list[i];
    const JsonPath a = at.at(i);
    if (!j.is_object()) runtime_error("{}: expected an object", a.str());
    AddedToken t;
    t.content = hf::str_field(j, "content", a);
    t.single_word = hf::bool_field(j, "single_word", a, false);
    t.lstrip = hf::bool_field(j, "lstrip", a, false);
    t.rstrip = hf::bool_field(j, "rstrip", a, false);
    t.normalized = hf::bool_field(j, "normalized", a, true);
    t.special = hf::bool_field(j, "special", a, false);
    if (t.content.empty()) continue;
    const std::optional<int32_t> known = token_id(t.content);
    const int32_t id = known ? *known : next_id++;
    if (t.normalized && normalizer) {
      Piece p;
      p.text = t.content;
      normalizer->apply(p);
      if (p.text != t.content) added_normalized[id] = p.text;
    }
    added_ids[t.content] = id;
    if (t.special) special_contents.insert(t.content);
    added[id] = t;
  }
  // The tries hold each id's latest token, as HF's id -> token map does.
  std::vector<int32_t> ids;
  for (const auto& [id, t] : added) ids.push_back(id);
  std::sort(ids.begin(), ids.end());
  for (int32_t id : ids) {
    const AddedToken& t = added[id];
    const std::string* pattern = &t.content;
    auto n = added_normalized.find(id);
    if (t.normalized && n != added_normalized.end()) pattern = &n->second;
    if (!(t.normalized ? normalized_trie : raw_trie).insert(*pattern, id))
      runtime_error("{}: two added tokens match the same text \"{}\"", at.str(), *pattern);
  }
}

// HF AddedVocabulary::find_matches + split_with_indices, on every piece not yet a token.
void HfTokenizer::Impl::split_added(std::vector<Piece>& pieces, const Trie& trie) const {
  std::vector<Piece> out;
  out.reserve(pieces.size());
  std::vector<Trie::Match> matches;
  std::vector<std::tuple<size_t, size_t, int32_t>> splits;  // (start, end, id or -1)
  for (Piece& p : pieces) {
    if (p.token >= 0) {
      out.push_back(std::move(p));
      continue;
    }
    const std::string_view s = p.text;
    splits.clear();
    trie.find_all(s, matches);
    size_t start_offset = 0;
    for (const Trie::Match& m : matches) {
      size_t start = m.start, stop = m.end;
      const AddedToken& t = added.at(m.id);
      if (t.single_word) {
        size_t k = stop;
        const bool start_space = start == 0 || !is_word_char(last_char(s.substr(0, start)));
        const bool stop_space = stop == s.size() || !is_word_char(hf::next_char(s, k));
        if (!start_space || !stop_space) continue;
      }
      if (t.lstrip) {
        size_t b = start;  // start of the whitespace run that ends at `start`
        while (b > 0) {
          size_t c = b - 1;
          while (c > 0 && (static_cast<unsigned char>(s[c]) & 0xC0) == 0x80) --c;
          size_t k = c;
          if (!hf::is_white_space(hf::next_char(s, k))) break;
          b = c;
        }
        start = std::max(b, start_offset);  // spaces a previous match took stay with it
      }
      if (t.rstrip) {
        for (size_t k = stop; stop < s.size() && hf::is_white_space(hf::next_char(s, k));) stop = k;
      }
      if (start_offset < start) splits.emplace_back(start_offset, start, -1);
      splits.emplace_back(start, stop, m.id);
      start_offset = stop;
    }
    if (start_offset != s.size()) splits.emplace_back(start_offset, s.size(), -1);
    for (const auto& [a, b, id] : splits) {
      if (id >= 0) {
        Piece q;
        q.token = id;
        out.push_back(std::move(q));
      } else if (a == 0 && b == s.size() && !track_origin) {
        out.push_back(std::move(p));  // the whole piece: no copy
        break;
      } else {
        out.push_back(hf::slice(p, a, b));
      }
    }
  }
  pieces = std::move(out);
}

HfTokenizer::HfTokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HfTokenizer::HfTokenizer(HfTokenizer&&) noexcept = default;
HfTokenizer& HfTokenizer::operator=(HfTokenizer&&) noexcept = default;
HfTokenizer::~HfTokenizer() = default;

HfTokenizer HfTokenizer::load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) runtime_error("cannot read tokenizer '{}': {}", path, std::strerror(errno));
  std::stringstream buf;
  buf << in.rdbuf();
  json j;
  try {
    j = parse_json(buf.str());
  } catch (const json::exception& e) {
    runtime_error("tokenizer '{}' is not valid JSON: {}", path, e.what());
  }
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  const JsonPath root{&impl->path, ""};
  auto at = [&](const char* key) { return JsonPath{&impl->path, key}; };
  if (!j.is_object()) runtime_error("tokenizer '{}': expected a JSON object", path);
  if (j.contains("version") && j["version"] != "1.0")
    runtime_error("tokenizer '{}': version {} is not known (expected \"1.0\")", path,
                  j["version"].dump());

  const json& model = hf::field(j, "model", root);
  if (!model.is_object()) runtime_error("tokenizer '{}': model: expected an object", path);
  const std::string model_type = model.contains("type")     ? hf::type_of(model, at("model"))
                                 : model.contains("merges") ? "BPE"
                                                            : "?";
  if (model_type != "BPE")
    usage_error("tokenizer '{}': model type '{}' is not supported (supported: BPE)", path,
                model_type);
  impl->model = hf::Bpe::parse(model, at("model"));
  auto get = [&](const char* key) -> const json& {
    static const json null_json;
    auto it = j.find(key);
    return it == j.end() ? null_json : *it;
  };
  impl->normalizer = hf::parse_normalizer(get("normalizer"), at("normalizer"));
  impl->pre_tokenizer = hf::parse_pre_tokenizer(get("pre_tokenizer"), at("pre_tokenizer"));
  impl->decoder = hf::parse_decoder(get("decoder"), at("decoder"));
  parse_post_processor(get("post_processor"), at("post_processor"), impl->post);
  impl->track_origin = impl->pre_tokenizer && impl->pre_tokenizer->needs_origin();
  if (!get("added_tokens").is_null()) impl->add_tokens(get("added_tokens"), at("added_tokens"));
  impl->vocab_size = impl->model.max_id() + 1;
  for (const auto& [id, t] : impl->added)
    impl->vocab_size = std::max<int64_t>(impl->vocab_size, int64_t{id} + 1);
  return HfTokenizer(std::move(impl));
}

std::vector<int32_t> HfTokenizer::encode(std::string_view text) const {
  const Impl& m = *impl_;
  std::vector<Piece> pieces(1);
  Piece& whole = pieces[0];
  whole.text = hf::utf8_lossy(text);
  if (m.track_origin) {
    whole.origin.resize(whole.text.size());
    for (size_t i = 0; i < whole.text.size();) {
      const size_t n = hf::utf8_len(static_cast<unsigned char>(whole.text[i]));
      std::fill_n(whole.origin.begin() + i, n, static_cast<uint32_t>(i));
      i += n;
    }
  }
  m.split_added(pieces, m.raw_trie);
  if (m.normalizer)
    for (Piece& p : pieces)
      if (p.token < 0) m.normalizer->apply(p);
  m.split_added(pieces, m.normalized_trie);
  if (m.pre_tokenizer) m.pre_tokenizer->apply(pieces);
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 4);
  for (const Piece& p : pieces) {
    if (p.token >= 0) {
      ids.push_back(p.token);
    } else {
      m.model.tokenize(p.text, ids);
    }
  }
  return ids;
}

std::vector<int32_t> HfTokenizer::encode_with_specials(std::string_view text) const {
  std::vector<int32_t> ids = impl_->post.prefix;
  const std::vector<int32_t> body = encode(text);
  ids.insert(ids.end(), body.begin(), body.end());
  ids.insert(ids.end(), impl_->post.suffix.begin(), impl_->post.suffix.end());
  return ids;
}

std::string HfTokenizer::decode(const std::vector<int32_t>& ids, bool skip_special) const {
  const Impl& m = *impl_;
  const int64_t n = vocab_size();
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (int32_t id : ids) {
    if (id < 0 || id >= n)
      usage_error("tokenizer '{}': cannot decode id {}: expected 0 <= id < {}", m.path, id, n);
    const std::string* t = m.token_of(id);
    if (!t) continue;
    if (skip_special && m.special_contents.count(*t)) continue;
    tokens.push_back(*t);
  }
  std::string out;
  if (m.decoder) {
    m.decoder->apply(tokens);
    for (const std::string& t : tokens) out += t;
  } else {
    for (size_t i = 0; i < tokens.size(); ++i) out += (i ? " " : "") + tokens[i];
  }
  return out;
}

int64_t HfTokenizer::vocab_size() const {
  return impl_->vocab_size;
}

std::optional<int32_t> HfTokenizer::token_to_id(std::string_view token) const {
  return impl_->token_id(token);
}

std::string HfTokenizer::id_to_token(int32_t id) const {
  const std::string* t = impl_->token_of(id);
  return t ? *t : std::string();
}

std::vector<int32_t> HfTokenizer::template_prefix() const {
  return impl_->post.prefix;
}
std::vector<int32_t> HfTokenizer::template_suffix() const {
  return impl_->post.suffix;
}
const std::string& HfTokenizer::path() const {
  return impl_->path;
}

}  // namespace ptune
