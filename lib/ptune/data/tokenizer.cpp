// Tokenizers: SentencePiece or tokenizer.json by content, their special ids, and training a
// new SentencePiece model.
// Trained models use LLaMA's ids (unk=0, bos=1, eos=2) plus pad=3, and LLaMA's training
// settings by default (identity normalization, byte fallback). SentencePiece itself is
// reached through libptune_sentencepiece.so (see sentencepiece_module.h for why it must be
// dlopen()ed rather than linked).
#include "ptune/data/tokenizer.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <regex>
#include <thread>
#include <unordered_map>

#include "ptune/core/error.h"
#include "ptune/core/log.h"
#include "ptune/core/text.h"
#include "ptune/data/hf_tokenizer.h"
#include "ptune/data/hf_tokenizer_config.h"
#include "ptune/data/sentencepiece_module.h"

namespace fs = std::filesystem;

namespace ptune {

namespace {

// The SentencePiece module's entry points. Loaded once per process and never unloaded
// (a dlopen handle is process-wide anyway). Search order: $PTUNE_SENTENCEPIECE_MODULE, the
// executable's directory (build tree: bin/), then <exe dir>/../lib/ptune (installed).
struct SpModule {
  spm::LoadFn load = nullptr;
  spm::TrainFn train = nullptr;
};

const SpModule& sp_module() {
  static const SpModule m = [] {
#ifdef PTUNE_SANITIZE
    // AddressSanitizer aborts a dlopen with RTLD_DEEPBIND (google/sanitizers#611), and without
    // it the two protobufs clash: a sanitizer build has no SentencePiece.
    runtime_error(
        "SentencePiece is not available in this sanitizer build (its module needs "
        "dlopen(RTLD_DEEPBIND), which AddressSanitizer does not support)");
#endif
    const std::string name = "libptune_sentencepiece.so";
    std::vector<std::string> candidates;
    if (const char* env = std::getenv("PTUNE_SENTENCEPIECE_MODULE")) candidates.push_back(env);
    std::error_code ec;
    auto exe_dir = fs::read_symlink("/proc/self/exe", ec).parent_path();
    if (!ec) {
      candidates.push_back((exe_dir / name).string());
      candidates.push_back((exe_dir / ".." / "lib" / "ptune" / name).string());
    }
    std::string tried;
    for (const auto& path : candidates) {
      if (!fs::exists(path, ec)) {
        tried += " " + path;
        continue;
      }
      void* h = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
      if (!h) runtime_error("cannot load the SentencePiece module '{}': {}", path, ::dlerror());
      auto abi = reinterpret_cast<spm::AbiVersionFn>(::dlsym(h, spm::kAbiVersionSymbol));
      SpModule out;
      out.load = reinterpret_cast<spm::LoadFn>(::dlsym(h, spm::kLoadSymbol));
      out.train = reinterpret_cast<spm::TrainFn>(::dlsym(h, spm::kTrainSymbol));
      if (!abi || !out.load || !out.train || abi() != spm::kAbiVersion)
        runtime_error("SentencePiece module '{}' does not match this ptune build; rebuild it",
                      path);
      return out;
    }
    runtime_error(
        "SentencePiece module {} not found (looked for:{}); set "
        "PTUNE_SENTENCEPIECE_MODULE to its path",
        name, tried);
  }();
  return m;
}

}  // namespace

bool sentencepiece_available() {
#ifdef PTUNE_SANITIZE
  return false;
#else
  return true;
#endif
}

Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

namespace {

// A tokenizer.json is a JSON object: its first non-blank byte is '{'. A SentencePiece model
// is a protobuf, whose first byte is a field tag (0x0a for its pieces).
bool looks_like_json(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char c = 0;
  while (in.get(c))
    if (c != ' ' && c != '\n' && c != '\r' && c != '\t') return c == '{';
  return false;
}

}  // namespace

Tokenizer Tokenizer::load(const std::string& path_in) {
  std::error_code ec;
  std::string path = path_in;
  if (fs::is_directory(path, ec)) {
    if (fs::is_regular_file(path + "/tokenizer.json", ec))
      path += "/tokenizer.json";
    else if (fs::is_regular_file(path + "/tokenizer.model", ec))
      path += "/tokenizer.model";
    else
      usage_error("tokenizer: '{}' holds neither tokenizer.json nor tokenizer.model", path_in);
  }
  if (!fs::is_regular_file(path, ec))
    runtime_error(
        "tokenizer '{}': no such file (expected a tokenizer.json, a SentencePiece "
        "tokenizer.model, or a model directory holding one)",
        path);
  Tokenizer t;
  t.path_ = path;
  const bool json = looks_like_json(path);
  t.files_.emplace_back(path, json ? "tokenizer.json" : "tokenizer.model");
  // The configs beside it: a TinyLlama or Mistral dir has them next to its tokenizer.model.
  std::string dir = fs::path(path).parent_path().string();
  if (dir.empty()) dir = ".";
  const HfTokenizerConfig cfg = read_hf_tokenizer_config(dir);
  for (const auto& f : cfg.files) t.files_.emplace_back(f, fs::path(f).filename().string());
  t.chat_template_ = cfg.chat_template;
  auto add_stops = [&] {
    if (t.eos_ >= 0) t.stop_.push_back(t.eos_);
    for (int64_t id : cfg.generation_eos)
      if (std::find(t.stop_.begin(), t.stop_.end(), id) == t.stop_.end()) t.stop_.push_back(id);
  };
  if (!json) {
    std::string err;
    t.sp_.reset(sp_module().load(path.c_str(), &err));
    if (!t.sp_) runtime_error("tokenizer '{}': not a valid SentencePiece model ({})", path, err);
    t.bos_ = t.sp_->bos_id();
    t.eos_ = t.sp_->eos_id();
    t.pad_ = t.sp_->pad_id() >= 0 ? t.sp_->pad_id() : t.eos_;
    t.bos_token_ = cfg.bos_token.value_or(t.bos_ >= 0 ? "<s>" : "");  // LLaMA's pieces
    t.eos_token_ = cfg.eos_token.value_or(t.eos_ >= 0 ? "</s>" : "");
    add_stops();
    return t;
  }

  t.hf_ = std::make_unique<HfTokenizer>(HfTokenizer::load(path));
  const HfTokenizer& hf = *t.hf_;
  // A token the configs name must be in the vocabulary: a typo would train the wrong id.
  auto id_of = [&](const std::optional<std::string>& tok, const char* field) -> int32_t {
    if (!tok) return -1;
    auto id = hf.token_to_id(*tok);
    if (!id)
      runtime_error("{}/tokenizer_config.json: {} \"{}\" is not a token of {}", dir, field, *tok,
                    path);
    return *id;
  };
  // BOS: what the post-processor puts first (HF's add_special_tokens=True); the fast
  // tokenizer's add_bos_token is already folded into that template when the file is saved.
  const auto prefix = hf.template_prefix();
  t.bos_ = prefix.empty() ? -1 : prefix.front();
  if (cfg.add_bos_token.value_or(false) && t.bos_ < 0) t.bos_ = id_of(cfg.bos_token, "bos_token");
  t.eos_ = id_of(cfg.eos_token, "eos_token");
  if (t.eos_ < 0 && !cfg.generation_eos.empty())
    t.eos_ = static_cast<int32_t>(cfg.generation_eos.front());
  if (t.eos_ < 0 && !hf.template_suffix().empty()) t.eos_ = hf.template_suffix().back();
  t.pad_ = cfg.pad_token ? id_of(cfg.pad_token, "pad_token") : t.eos_;
  t.bos_token_ = cfg.bos_token.value_or(t.bos_ >= 0 ? hf.id_to_token(t.bos_) : "");
  t.eos_token_ = cfg.eos_token.value_or(t.eos_ >= 0 ? hf.id_to_token(t.eos_) : "");
  add_stops();
  return t;
}

std::vector<int32_t> Tokenizer::encode(const std::string& text) const {
  if (hf_) return hf_->encode(text);
  std::vector<int> ids;
  auto err = sp_->encode(text, &ids);
  if (!err.empty()) runtime_error("tokenizer '{}': encode failed ({})", path_, err);
  return std::vector<int32_t>(ids.begin(), ids.end());
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids) const {
  if (hf_) return hf_->decode(ids);
  const int n = sp_->piece_size();
  std::vector<int> v;
  v.reserve(ids.size());
  for (int32_t id : ids) {
    if (id < 0 || id >= n)
      usage_error("tokenizer '{}': token id {} out of range [0, {})", path_, id, n);
    v.push_back(id);
  }
  std::string out;
  auto err = sp_->decode(v, &out);
  if (!err.empty()) runtime_error("tokenizer '{}': decode failed ({})", path_, err);
  return out;
}

int64_t Tokenizer::vocab_size() const {
  return hf_ ? hf_->vocab_size() : sp_->piece_size();
}
int32_t Tokenizer::bos_id() const {
  return bos_;
}
int32_t Tokenizer::eos_id() const {
  return eos_;
}
int32_t Tokenizer::pad_id() const {
  return pad_;
}
std::vector<int64_t> Tokenizer::stop_ids() const {
  return stop_;
}
std::optional<int32_t> Tokenizer::token_id(const std::string& token) const {
  if (hf_) return hf_->token_to_id(token);
  return std::nullopt;
}

namespace {

// "dir/tok.model" -> "dir/tok" (the prefix SentencePiece appends .model/.vocab to).
std::string model_prefix(const std::string& out) {
  const std::string ext = ".model";
  if (out.size() > ext.size() && ends_with(out, ext)) return out.substr(0, out.size() - ext.size());
  return out;
}

// Removes the listed files when it goes out of scope (temporary training outputs).
struct RemoveOnExit {
  std::vector<std::string> paths;
  ~RemoveOnExit() {
    std::error_code ec;
    for (const auto& p : paths) fs::remove(p, ec);
  }
};

// Flushes a finished file to disk before it is renamed into place.
void fsync_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) runtime_error("tokenizer training: cannot open '{}' to sync it", path);
  ::fsync(fd);
  ::close(fd);
}

const char* const kNormalizations[] = {"identity", "nmt_nfkc", "nfkc", "nmt_nfkc_cf", "nfkc_cf"};

const char* flag(bool b) {
  return b ? "true" : "false";
}

// Pieces a trained model holds before any learned one: unk, bos, eos, pad, and with byte
// fallback the 256 byte pieces <0x00>..<0xFF>.
constexpr int64_t kSpecialPieces = 4;
int64_t reserved_pieces(const TokenizerTrainOptions& o) {
  return kSpecialPieces + (o.byte_fallback ? 256 : 0);
}

std::string reserved_pieces_text(const TokenizerTrainOptions& o) {
  return fmt::format("{} special pieces{}", kSpecialPieces,
                     o.byte_fallback ? ", 256 byte pieces for byte fallback" : "");
}

}  // namespace

void train_tokenizer(const TokenizerTrainOptions& o) {
  if (o.input.empty()) usage_error("tokenizer training: no input corpus given");
  if (o.out.empty()) usage_error("tokenizer training: no output path given");
  // SentencePiece also needs a piece per character it keeps; that minimum depends on the corpus
  // and is reported after it is read (below).
  if (o.vocab_size <= reserved_pieces(o))
    usage_error(
        "tokenizer training: vocab_size {} is too small; expected at least {} ({} and at "
        "least one piece per character of the corpus)",
        o.vocab_size, reserved_pieces(o) + 1, reserved_pieces_text(o));
  if (o.model_type != "bpe" && o.model_type != "unigram")
    usage_error("tokenizer training: model_type must be bpe or unigram, got '{}'", o.model_type);
  if (std::find(std::begin(kNormalizations), std::end(kNormalizations), o.normalization) ==
      std::end(kNormalizations))
    usage_error("tokenizer training: normalization must be one of {}, got '{}'",
                fmt::join(kNormalizations, ", "), o.normalization);
  if (!(o.character_coverage > 0.0 && o.character_coverage <= 1.0))
    usage_error("tokenizer training: character_coverage must be in (0, 1], got {}",
                o.character_coverage);
  if (o.max_sentences < 1)
    usage_error("tokenizer training: max_sentences must be >= 1, got {}", o.max_sentences);

  const std::string final_prefix = model_prefix(o.out);
  const std::string final_model = final_prefix + ".model";
  const std::string final_vocab = final_prefix + ".vocab";
  // The corpus is never replaced by what is trained from it.
  for (const std::string& written : {final_model, final_vocab}) {
    std::error_code ec;
    if (o.input != "-" && fs::exists(written) && fs::equivalent(written, o.input, ec))
      usage_error(
          "tokenizer training: --out '{}' would write '{}', which is the input corpus; "
          "choose another output path",
          o.out, written);
  }
  const std::string tag = ".tmp-" + std::to_string(::getpid());
  const std::string tmp_prefix = final_prefix + tag;
  RemoveOnExit cleanup{{tmp_prefix + ".model", tmp_prefix + ".vocab"}};

  std::error_code ec;
  auto parent = fs::path(final_model).parent_path();
  if (!parent.empty() && !fs::is_directory(parent, ec))
    usage_error("tokenizer training: output directory '{}' does not exist", parent.string());

  std::string input = o.input;
  if (input == "-") {  // SentencePiece reads files only: spool stdin next to the output
    input = final_prefix + tag + ".stdin.txt";
    cleanup.paths.push_back(input);
    std::ofstream f(input, std::ios::binary);
    if (!f) runtime_error("tokenizer training: cannot write temporary file '{}'", input);
    f << std::cin.rdbuf();
    if (!f) runtime_error("tokenizer training: cannot write temporary file '{}'", input);
  } else if (!fs::is_regular_file(input, ec)) {
    usage_error("tokenizer training: input corpus '{}' does not exist", input);
  }

  const int threads = o.threads > 0 ? o.threads : std::max(1u, std::thread::hardware_concurrency());
  const std::unordered_map<std::string, std::string> args = {
      {"input", input},
      {"model_prefix", tmp_prefix},
      {"model_type", o.model_type},
      {"vocab_size", std::to_string(o.vocab_size)},
      {"character_coverage", fmt::format("{}", o.character_coverage)},
      {"input_sentence_size", std::to_string(o.max_sentences)},
      {"normalization_rule_name", o.normalization},
      {"byte_fallback", flag(o.byte_fallback)},
      {"remove_extra_whitespaces", flag(o.remove_extra_whitespaces)},
      {"add_dummy_prefix", flag(o.add_dummy_prefix)},
      {"split_digits", flag(o.split_digits)},
      {"allow_whitespace_only_pieces", flag(o.allow_whitespace_only_pieces)},
      {"split_by_unicode_script", flag(o.split_by_unicode_script)},
      {"shuffle_input_sentence", "true"},
      {"num_threads", std::to_string(threads)},
      {"unk_id", "0"},
      {"bos_id", "1"},
      {"eos_id", "2"},
      {"pad_id", "3"},
      {"minloglevel", "1"},  // SentencePiece logs INFO to stderr; keep warnings only
  };
  PTUNE_INFO("training a {} tokenizer (vocab {}) on '{}'", o.model_type, o.vocab_size, o.input);
  std::string err;
  if (!sp_module().train(&args, &err)) {
    // SentencePiece says "Vocabulary size is smaller than required_chars. 300 vs 332. ..."
    std::smatch m;
    if (std::regex_search(err, m, std::regex(R"(smaller than required_chars\. (\d+) vs (\d+))"))) {
      const int64_t need = std::stoll(m[2].str());
      usage_error(
          "tokenizer training on '{}': vocab_size {} is too small for this corpus; expected "
          "at least {} ({} and {} characters at character_coverage {}); raise vocab_size "
          "or lower character_coverage",
          o.input, o.vocab_size, need, reserved_pieces_text(o), need - reserved_pieces(o),
          o.character_coverage);
    }
    usage_error("tokenizer training on '{}' failed: {}", o.input, err);
  }

  fsync_file(tmp_prefix + ".vocab");
  fsync_file(tmp_prefix + ".model");
  // The .vocab goes first so that a present .model always has its matching .vocab.
  fs::rename(tmp_prefix + ".vocab", final_vocab, ec);
  if (ec) runtime_error("tokenizer training: cannot write '{}': {}", final_vocab, ec.message());
  fs::rename(tmp_prefix + ".model", final_model, ec);
  if (ec) runtime_error("tokenizer training: cannot write '{}': {}", final_model, ec.message());
  PTUNE_INFO("wrote {}", final_model);
}

}  // namespace ptune
