// Dataset loading for the text, instruct, tokens and chat formats (see dataset.h for the exact
// input/target layout of each). JSONL is parsed with nlohmann-json, one object per line;
// every problem is a usage error naming "<key>: <file>:<line>".
#include "ptune/data/dataset.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>
#include <iostream>
#include <limits>

#include "ptune/config/size_limits.h"
#include "ptune/core/error.h"
#include "ptune/core/json.h"
#include "ptune/core/log.h"
#include "ptune/data/chat_data.h"
#include "ptune/data/tokenizer.h"

namespace ptune {

namespace {

using json = nlohmann::json;

// Reads a file (or stdin for "-") line by line; knows the name and line number for messages.
class LineReader {
 public:
  LineReader(const std::string& path, const std::string& key) : key_(key) {
    name_ = path == "-" ? "<stdin>" : path;
    if (path != "-") {
      file_.open(path, std::ios::binary);
      if (!file_) usage_error("{}: cannot open '{}'", key, path);
    }
  }
  // The next line without its '\n'; false at the end. A line longer than kMaxJsonlLineBytes is
  // refused before it is read whole (a file that is not JSONL, weights given as data, say).
  bool next(std::string& line) {
    std::streambuf* in = file_.is_open() ? file_.rdbuf() : std::cin.rdbuf();
    line.clear();
    for (int c; (c = in->sbumpc()) != '\n';) {
      if (c == std::char_traits<char>::eof()) {
        if (line.empty()) return false;
        break;
      }
      if (line.size() == static_cast<size_t>(kMaxJsonlLineBytes)) {
        ++line_no_;
        fail("line longer than {} MiB; {}", kMaxJsonlLineBytes >> 20, kMaxJsonlLineBytesWhy);
      }
      line.push_back(static_cast<char>(c));
    }
    ++line_no_;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    return true;
  }
  // "data.train: f.jsonl:3: " + message.
  template <typename... Args>
  [[noreturn]] void fail(fmt::format_string<Args...> f, Args&&... args) const {
    usage_error("{}: {}:{}: {}", key_, name_, line_no_,
                fmt::format(f, std::forward<Args>(args)...));
  }
  const std::string& name() const { return name_; }

 private:
  std::ifstream file_;
  std::string name_, key_;
  int64_t line_no_ = 0;
};

bool is_blank(const std::string& s) {
  return s.find_first_not_of(" \t\r\n\f\v") == std::string::npos;
}

json parse_object(const std::string& line, const LineReader& r) {
  json j;
  try {
    j = parse_json(line);
  } catch (const json::parse_error& e) {
    // e.what() = "[json.exception.parse_error.101] parse error at line 1, column 5: <why>"
    std::string why = e.what();
    auto colon = why.find(": ");
    r.fail("invalid JSON at column {}: {}", e.byte,
           colon == std::string::npos ? why : why.substr(colon + 2));
  } catch (const json::exception& e) {  // e.g. out_of_range.406: a number beyond double
    r.fail("invalid JSON: {}", e.what());
  }
  if (!j.is_object()) r.fail("expected a JSON object, got {}", j.type_name());
  return j;
}

const std::string& string_field(const json& j, const std::string& name, const LineReader& r) {
  auto it = j.find(name);
  if (it == j.end()) r.fail("field '{}' missing", name);
  if (!it->is_string()) r.fail("field '{}' must be a string, got {}", name, it->type_name());
  return it->get_ref<const std::string&>();
}

// A JSON list of integers in [lo, hi] (booleans allowed when [0, 1] fits); `what` says what
// one value must be, for messages.
std::vector<int32_t> int_list(const json& j, const std::string& name, int64_t lo, int64_t hi,
                              const char* what, const LineReader& r) {
  if (!j.is_array()) r.fail("field '{}' must be a list of {}, got {}", name, what, j.type_name());
  std::vector<int32_t> out;
  out.reserve(j.size());
  for (size_t i = 0; i < j.size(); ++i) {
    const json& v = j[i];
    int64_t x = 0;
    if (v.is_boolean() && lo <= 0 && hi >= 1) {
      x = v.get<bool>() ? 1 : 0;
    } else if (v.is_number_integer()) {
      x = v.get<int64_t>();
    } else {
      r.fail("field '{}'[{}] must be {}, got {}", name, i, what, v.dump());
    }
    if (x < lo || x > hi) r.fail("field '{}'[{}] must be {}, got {}", name, i, what, x);
    out.push_back(static_cast<int32_t>(x));
  }
  return out;
}

bool has_target(const Example& e) {
  for (int32_t t : e.targets)
    if (t != kIgnoreIndex) return true;
  return false;
}

// text: documents -> windows of seq_len+1 tokens, stride seq_len (the last token of a window
// starts the next one): input = w[0:L-1], targets = w[1:L]. `stream` and `documents` pack all
// documents into one token stream; `none` windows each document on its own. The stream is
// never held whole: `buf` keeps only the tokens not yet emitted (plus the one overlap token).
// documents: `first[i]` marks a document's first token; a window's positions restart at 0 at
// each of them and at the window's start (a document cut by a window boundary continues as
// a new one), and a document's last token predicts nothing (the next one is another's).
std::vector<Example> load_text(const DataSource& src, const Tokenizer& tok, int64_t seq_len,
                               bool add_bos, Packing packing, const std::string& key) {
  LineReader r(src.path, key);
  std::vector<Example> out;
  std::vector<int32_t> buf;
  std::vector<uint8_t> first;  // documents: parallel to buf
  size_t head = 0;             // buf[head:] are pending tokens
  const size_t win = static_cast<size_t>(seq_len) + 1;
  const bool docs = packing == Packing::kDocuments;
  auto emit = [&](size_t len) {
    Example e;
    const auto w = buf.begin() + static_cast<std::ptrdiff_t>(head);
    e.input_ids.assign(w, w + static_cast<std::ptrdiff_t>(len - 1));
    e.targets.assign(w + 1, w + static_cast<std::ptrdiff_t>(len));
    if (docs) {
      bool several = false;
      e.positions.resize(len - 1);
      for (size_t i = 0; i + 1 < len; ++i) {
        const bool starts = i > 0 && first[head + i];
        several |= starts;
        e.positions[i] = i == 0 || starts ? 0 : e.positions[i - 1] + 1;
        if (first[head + i + 1]) e.targets[i] = static_cast<int32_t>(kIgnoreIndex);
      }
      if (!several) e.positions.clear();  // one document: the default positions
    }
    out.push_back(std::move(e));
  };
  auto drain = [&](bool all) {
    while (buf.size() - head >= win) {
      emit(win);
      head += win - 1;
    }
    if (all) {
      if (buf.size() - head >= 2) emit(buf.size() - head);
      buf.clear();
      first.clear();
      head = 0;
    } else if (head > buf.size() / 2) {  // compact: drop emitted tokens
      buf.erase(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(head));
      if (docs) first.erase(first.begin(), first.begin() + static_cast<std::ptrdiff_t>(head));
      head = 0;
    }
  };
  std::string line;
  while (r.next(line)) {
    if (is_blank(line)) continue;
    const size_t doc_begin = buf.size();
    if (add_bos && tok.bos_id() >= 0) buf.push_back(tok.bos_id());
    auto ids = tok.encode(line);
    buf.insert(buf.end(), ids.begin(), ids.end());
    if (tok.eos_id() >= 0) buf.push_back(tok.eos_id());
    if (docs) {
      first.resize(buf.size(), 0);
      first[doc_begin] = 1;
    }
    drain(/*all=*/packing == Packing::kNone);
  }
  drain(/*all=*/true);
  if (docs) {  // a window of documents' last tokens only predicts nothing
    out.erase(
        std::remove_if(out.begin(), out.end(), [](const Example& e) { return !has_target(e); }),
        out.end());
  }
  return out;
}

std::string apply_template(const std::string& tmpl, const std::string& prompt) {
  static const std::string kSlot = "{prompt}";
  std::string out;
  size_t pos = 0;
  for (size_t at; (at = tmpl.find(kSlot, pos)) != std::string::npos; pos = at + kSlot.size())
    out.append(tmpl, pos, at - pos).append(prompt);
  return out.append(tmpl, pos, std::string::npos);
}

std::vector<Example> load_instruct(const DataSource& src, const Tokenizer& tok, int64_t seq_len,
                                   bool add_bos, const std::string& key) {
  if (src.template_.find("{prompt}") == std::string::npos)
    usage_error("{}.template: must contain {{prompt}}, got '{}'", key, src.template_);
  LineReader r(src.path, key);
  std::vector<Example> out;
  std::string line;
  while (r.next(line)) {
    if (is_blank(line)) continue;
    json j = parse_object(line, r);
    const std::string& prompt = string_field(j, src.prompt_field, r);
    const std::string& response = string_field(j, src.response_field, r);
    std::vector<int32_t> toks;
    if (add_bos && tok.bos_id() >= 0) toks.push_back(tok.bos_id());
    auto p = tok.encode(apply_template(src.template_, prompt));
    toks.insert(toks.end(), p.begin(), p.end());
    const size_t n_prompt = toks.size();  // toks[0:n_prompt] are never targets
    auto resp = tok.encode(response);
    toks.insert(toks.end(), resp.begin(), resp.end());
    if (tok.eos_id() >= 0) toks.push_back(tok.eos_id());
    if (toks.size() > static_cast<size_t>(seq_len) + 1) toks.resize(seq_len + 1);
    if (toks.size() < 2) continue;
    Example e;
    e.input_ids = std::vector<int32_t>(toks.begin(), toks.end() - 1);
    e.targets.resize(e.input_ids.size());
    for (size_t t = 0; t < e.targets.size(); ++t)  // target t is token t+1
      e.targets[t] = t + 1 < n_prompt ? static_cast<int32_t>(kIgnoreIndex) : toks[t + 1];
    out.push_back(std::move(e));
  }
  return out;
}

std::vector<Example> load_tokens(const DataSource& src, int64_t seq_len, const std::string& key) {
  LineReader r(src.path, key);
  constexpr int64_t kMaxId = std::numeric_limits<int32_t>::max();
  std::vector<Example> out;
  std::string line;
  while (r.next(line)) {
    if (is_blank(line)) continue;
    json j = parse_object(line, r);
    auto it = j.find("input_ids");
    if (it == j.end()) r.fail("field 'input_ids' missing");
    auto ids = int_list(*it, "input_ids", 0, kMaxId, "a token id >= 0", r);
    if (ids.size() < 2) r.fail("field 'input_ids' needs at least 2 tokens, got {}", ids.size());
    const bool has_labels = j.contains("labels"), has_mask = j.contains("loss_mask");
    if (has_labels && has_mask) r.fail("give either 'labels' or 'loss_mask', not both");
    std::vector<int32_t> labels;
    if (has_labels)
      labels = int_list(j["labels"], "labels", kIgnoreIndex, kMaxId, "a token id or -100", r);
    if (has_mask) labels = int_list(j["loss_mask"], "loss_mask", 0, 1, "0 or 1", r);
    const char* lname = has_labels ? "labels" : "loss_mask";
    if ((has_labels || has_mask) && labels.size() != ids.size())
      r.fail("field '{}' has {} entries but 'input_ids' has {}", lname, labels.size(), ids.size());
    for (size_t i = 0; has_labels && i < labels.size(); ++i)
      if (labels[i] < 0 && labels[i] != kIgnoreIndex)
        r.fail("field 'labels'[{}] must be a token id or -100, got {}", i, labels[i]);

    const size_t n = std::min(ids.size(), static_cast<size_t>(seq_len) + 1);
    Example e;
    e.input_ids = std::vector<int32_t>(ids.begin(), ids.begin() + n - 1);
    e.targets.resize(n - 1);
    for (size_t t = 0; t + 1 < n; ++t) {
      if (has_labels)
        e.targets[t] = labels[t + 1];
      else if (has_mask)
        e.targets[t] = labels[t + 1] ? ids[t + 1] : static_cast<int32_t>(kIgnoreIndex);
      else
        e.targets[t] = ids[t + 1];
    }
    out.push_back(std::move(e));
  }
  return out;
}

std::vector<Example> load_chat(const DataSource& src, const Tokenizer& tok, int64_t seq_len,
                               const std::string& key) {
  const ChatSetup s = chat_setup(tok, src.chat.chat_template, key);
  LineReader r(src.path, key);
  std::vector<Example> out;
  std::vector<ChatMessage> messages;
  std::string line;
  while (r.next(line)) {
    if (is_blank(line)) continue;
    json j = parse_object(line, r);
    if (auto err = chat_messages(j, &messages); !err.empty()) r.fail("{}", err);
    ChatIds c;
    try {
      c = tokenize_chat(tok, s, messages, /*add_generation_prompt=*/false);
    } catch (const Error& e) {
      r.fail("{}", e.what());
    }
    const int32_t last = c.turn.empty() ? -1 : *std::max_element(c.turn.begin(), c.turn.end());
    auto trained = [&](size_t i) {
      switch (src.chat.train_on) {
        case TrainOn::kAll:
          return true;
        case TrainOn::kLast:
          return c.turn[i] >= 0 && c.turn[i] == last;
        case TrainOn::kAssistant:
          break;
      }
      return c.turn[i] >= 0;
    };
    const size_t n = std::min(c.ids.size(), static_cast<size_t>(seq_len) + 1);
    if (n < 2) continue;
    Example e;
    e.input_ids.assign(c.ids.begin(), c.ids.begin() + static_cast<std::ptrdiff_t>(n - 1));
    e.targets.resize(n - 1);
    for (size_t t = 0; t + 1 < n; ++t)  // target t is token t+1
      e.targets[t] = trained(t + 1) ? c.ids[t + 1] : static_cast<int32_t>(kIgnoreIndex);
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace

Dataset Dataset::load(const DataSource& src, const Tokenizer* tok, int64_t seq_len, bool add_bos,
                      const std::string& key, Packing packing) {
  if (src.path.empty()) usage_error("{}.path: no data file given", key);
  if (seq_len < 1) usage_error("data.seq_len: must be >= 1, got {}", seq_len);
  if (seq_len > kMaxPositions)
    usage_error("data.seq_len: must be <= {}, got {}; {}", kMaxPositions, seq_len,
                kMaxPositionsWhy);
  const bool needs_tok = src.format != DataFormat::kTokens;
  if (needs_tok && tok == nullptr)
    usage_error("{}: format '{}' needs a tokenizer", key, name_of(src.format));

  std::vector<Example> ex;
  switch (src.format) {
    case DataFormat::kText:
      ex = load_text(src, *tok, seq_len, add_bos, packing, key);
      break;
    case DataFormat::kInstruct:
      ex = load_instruct(src, *tok, seq_len, add_bos, key);
      break;
    case DataFormat::kTokens:
      ex = load_tokens(src, seq_len, key);
      break;
    case DataFormat::kChat:
      ex = load_chat(src, *tok, seq_len, key);
      break;
  }

  if (src.format !=
      DataFormat::kText) {  // packed text always predicts; the others may mask everything
    const size_t before = ex.size();
    ex.erase(std::remove_if(ex.begin(), ex.end(), [](const Example& e) { return !has_target(e); }),
             ex.end());
    if (ex.size() != before)
      PTUNE_WARN(
          "{}: dropped {} of {} examples in '{}' with no target left (prompt longer than "
          "seq_len {}, or all labels -100)",
          key, before - ex.size(), before, src.path, seq_len);
  }
  if (ex.empty())
    usage_error("{}: '{}' holds no examples (format {}); expected at least one", key,
                src.path == "-" ? "<stdin>" : src.path, name_of(src.format));
  return from_examples(std::move(ex));
}

Dataset Dataset::from_examples(std::vector<Example> examples) {
  Dataset d;
  d.examples_ = std::move(examples);
  return d;
}

int64_t Dataset::total_targets() const {
  int64_t n = 0;
  for (const auto& e : examples_)
    for (int32_t t : e.targets) n += t != kIgnoreIndex;
  return n;
}

}  // namespace ptune
