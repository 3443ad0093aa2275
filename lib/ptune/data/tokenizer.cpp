// SentencePiece tokenizer: loading, encode/decode, special ids, and training a new model.
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

Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

Tokenizer Tokenizer::load(const std::string& model_path) {
  std::error_code ec;
  if (!fs::is_regular_file(model_path, ec))
    runtime_error("tokenizer '{}': no such file (expected a SentencePiece .model)", model_path);
  Tokenizer t;
  std::string err;
  t.sp_.reset(sp_module().load(model_path.c_str(), &err));
  if (!t.sp_)
    runtime_error("tokenizer '{}': not a valid SentencePiece model ({})", model_path, err);
  t.path_ = model_path;
  return t;
}

std::vector<int32_t> Tokenizer::encode(const std::string& text) const {
  std::vector<int> ids;
  auto err = sp_->encode(text, &ids);
  if (!err.empty()) runtime_error("tokenizer '{}': encode failed ({})", path_, err);
  return std::vector<int32_t>(ids.begin(), ids.end());
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids) const {
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
  return sp_->piece_size();
}
int32_t Tokenizer::bos_id() const {
  return sp_->bos_id();
}
int32_t Tokenizer::eos_id() const {
  return sp_->eos_id();
}
int32_t Tokenizer::pad_id() const {
  return sp_->pad_id() >= 0 ? sp_->pad_id() : sp_->eos_id();
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
