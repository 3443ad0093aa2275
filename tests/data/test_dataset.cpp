// Tokenizer training/round trip, dataset formats (packing, instruct masking, tokens with
// labels / loss_mask), error messages, collate padding and BatchIterator determinism.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <nlohmann/json.hpp>
#include <numeric>

#include "ptune/config/size_limits.h"
#include "ptune/core/error.h"
#include "ptune/core/json.h"
#include "ptune/data/dataset.h"
#include "ptune/data/tokenizer.h"
#include "ptune/train/run_setup.h"
#include "test_util.h"

namespace ptune {
namespace {

using test::TempDir;
using test::write_text;
using V = std::vector<int32_t>;
constexpr int32_t X = static_cast<int32_t>(kIgnoreIndex);

DataSource data_source(const std::string& path, const std::string& format) {
  DataSource s;
  s.path = path;
  s.format = *parse_choice<DataFormat>(format);
  return s;
}

// A tiny tokenizer trained once for the whole suite (vocab 400 on WordNet glosses: 4 special
// pieces, 256 byte pieces, ~70 characters, the rest learned). Skipped where SentencePiece
// cannot load (sanitizer builds).
class DataTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    if (!sentencepiece_available()) return;
    std::ifstream in(std::string(PTUNE_SOURCE_DIR) + "/data/wordnet/corpus_train.txt");
    ASSERT_TRUE(in) << "data/wordnet/corpus_train.txt missing";
    std::string line, corpus, head;  // head: a smaller corpus for the slower trainings
    for (int i = 0; i < 2000 && std::getline(in, line); ++i) {
      corpus += line + "\n";
      if (i < 300) head += line + "\n";
    }
    write_text(*dir_ / "corpus.txt", corpus);
    write_text(*dir_ / "head.txt", head);
    TokenizerTrainOptions o;
    o.input = *dir_ / "corpus.txt";
    o.out = *dir_ / "tok.model";
    o.vocab_size = 400;
    o.threads = 2;
    train_tokenizer(o);
    tok_ = new Tokenizer(Tokenizer::load(o.out));
  }
  static void TearDownTestSuite() {
    delete tok_;
    delete dir_;
  }
  void SetUp() override {
    if (!sentencepiece_available()) GTEST_SKIP() << "no SentencePiece in a sanitizer build";
  }
  static TempDir* dir_;
  static Tokenizer* tok_;
};
TempDir* DataTest::dir_ = nullptr;
Tokenizer* DataTest::tok_ = nullptr;

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Usage) << e.what();
    return e.what();
  }
  return "<no error>";
}

TEST_F(DataTest, TokenizerIdsAndRoundTrip) {
  EXPECT_EQ(tok_->vocab_size(), 400);
  EXPECT_EQ(tok_->bos_id(), 1);
  EXPECT_EQ(tok_->eos_id(), 2);
  EXPECT_EQ(tok_->pad_id(), 3);
  EXPECT_TRUE(test::exists(*dir_ / "tok.vocab"));
  const std::string text = "bank (noun): sloping land beside a body of water.";
  auto ids = tok_->encode(text);
  ASSERT_FALSE(ids.empty());
  for (int32_t id : ids) EXPECT_GT(id, 3);  // no specials added by encode
  EXPECT_EQ(tok_->decode(ids), text);
}

// Text that SentencePiece's own defaults change or lose (nmt_nfkc normalization, no byte
// fallback, extra whitespace removed) and that LLaMA's settings keep byte for byte, with no
// unk (id 0): control characters, runs of spaces, characters absent from the corpus.
const std::vector<std::string>& awkward_texts() {
  static const std::vector<std::string> texts = {
      "line one\nline two\n",
      "\n",
      "a\tb\t\tc",
      "x  y",
      "   three leading spaces",
      "two trailing spaces  ",
      " ",
      "run `ptune train` then ```code```",
      "if (x) {\n    return y;\n}",
      "emoji \xF0\x9F\x98\x80 and \xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD",  // U+1F600; U+1F44D U+1F3FD
      "\xE6\xBC\xA2\xE5\xAD\x97 \xE3\x81\x8B\xE3\x81\xAA",            // CJK: 漢字 かな
      "caf\xC3\xA9 (NFC)",                                            // é as U+00E9
      "cafe\xCC\x81 (NFD)",                                           // e + U+0301
      "\xEF\xAC\x81le \xEF\xBC\xA1\xEF\xBC\x91",  // U+FB01 ligature, full-width A1
      "\xC2\xA0nbsp\xE2\x80\x8Bzwsp\x7F",         // U+00A0, U+200B, DEL
      "digits 1234567890, 3.14159",
  };
  return texts;
}

std::string show(const std::string& text) {  // for failure messages: control characters visible
  std::string out;
  for (unsigned char c : text)
    out += c < 0x20 || c == 0x7F ? fmt::format("\\x{:02X}", c) : std::string(1, c);
  return "'" + out + "'";
}

TEST_F(DataTest, TokenizerRoundTripsAnyUtf8TextWithoutUnk) {
  for (const auto& text : awkward_texts()) {
    const auto ids = tok_->encode(text);
    EXPECT_EQ(tok_->decode(ids), text) << show(text);
    EXPECT_EQ(std::count(ids.begin(), ids.end(), 0), 0) << show(text) << " has unk ids";
  }
  EXPECT_EQ(tok_->decode(tok_->encode("")), "");
}

// The pieces of a trained model, by id, from the .vocab beside it ("piece\tscore" lines).
std::vector<std::string> vocab_pieces(const std::string& vocab_path) {
  std::ifstream in(vocab_path);
  std::vector<std::string> pieces;
  for (std::string line; std::getline(in, line);) pieces.push_back(line.substr(0, line.find('\t')));
  return pieces;
}

// With byte fallback a character the corpus never had becomes its UTF-8 bytes, the pieces
// <0x00>..<0xFF> at ids 4..259 (after unk, bos, eos, pad), which is how llama.cpp reads them.
TEST_F(DataTest, TokenizerUnseenCharactersBecomeBytePieces) {
  const auto pieces = vocab_pieces(*dir_ / "tok.vocab");
  ASSERT_EQ(pieces.size(), 400u);
  EXPECT_EQ((std::vector<std::string>(pieces.begin(), pieces.begin() + 4)),
            (std::vector<std::string>{"<unk>", "<s>", "</s>", "<pad>"}));
  for (int b = 0; b < 256; ++b) EXPECT_EQ(pieces[4 + b], fmt::format("<0x{:02X}>", b));
  auto byte_ids = [](const std::string& s) {
    V ids;
    for (unsigned char c : s) ids.push_back(4 + c);
    return ids;
  };
  for (const std::string ch : {"\n", "\t", "`", "\xF0\x9F\x98\x80", "\xE6\xBC\xA2", "\xC3\xA9"}) {
    const auto ids = tok_->encode("a" + ch + "b");
    const auto bytes = byte_ids(ch);
    EXPECT_NE(std::search(ids.begin(), ids.end(), bytes.begin(), bytes.end()), ids.end())
        << show(ch) << " is not encoded as its bytes";
  }
}

// Identity normalization and kept whitespace: the forms NFKC (SentencePiece's default) would
// fold together stay distinct.
TEST_F(DataTest, TokenizerKeepsTextAsWritten) {
  auto differ = [&](const std::string& a, const std::string& b) {
    EXPECT_NE(tok_->encode(a), tok_->encode(b)) << show(a) << " and " << show(b) << " encode alike";
  };
  differ("\xEF\xAC\x81", "fi");           // U+FB01 ligature
  differ("\xEF\xBC\xA1", "A");            // full-width A
  differ("cafe\xCC\x81", "caf\xC3\xA9");  // NFD and NFC é
  differ("x  y", "x y");
  differ(" x", "x");
  differ("x ", "x");
  // The dummy prefix: a text starts with a word piece, "\u2581water", as after a space.
  const auto pieces = vocab_pieces(*dir_ / "tok.vocab");
  EXPECT_EQ(pieces.at(tok_->encode("water").front()).rfind("\xE2\x96\x81", 0), 0u);
}

// The most digits any piece of `t.encode(text)` holds.
int64_t max_digits_per_piece(const Tokenizer& t, const std::string& text) {
  int64_t most = 0;
  for (int32_t id : t.encode(text)) {
    const std::string piece = t.decode({id});
    most = std::max<int64_t>(most, std::count_if(piece.begin(), piece.end(),
                                                 [](char c) { return c >= '0' && c <= '9'; }));
  }
  return most;
}

// Every LLaMA setting can be switched back to SentencePiece's own default. The corpus repeats
// two numbers so often that without split_digits they become pieces of their own.
TEST_F(DataTest, TokenizerTrainOptionsReachSentencePiece) {
  std::string corpus = test::read_text(*dir_ / "head.txt");
  for (int i = 0; i < 200; ++i) corpus += "in 2024 and 1999\n";
  write_text(*dir_ / "numbers.txt", corpus);
  TokenizerTrainOptions o;
  o.input = *dir_ / "numbers.txt";
  o.out = *dir_ / "digits.model";
  o.vocab_size = 400;
  train_tokenizer(o);
  EXPECT_EQ(max_digits_per_piece(Tokenizer::load(o.out), "in 2024 and 1999"), 1);

  o.out = *dir_ / "nfkc.model";
  o.vocab_size = 200;
  o.normalization = "nmt_nfkc";
  o.byte_fallback = false;
  o.remove_extra_whitespaces = true;
  o.split_digits = false;
  o.character_coverage = 1.0;
  train_tokenizer(o);
  auto t = Tokenizer::load(o.out);
  EXPECT_EQ(t.decode(t.encode("  x  y  ")), "x y");
  EXPECT_EQ(t.encode("\xEF\xAC\x81"), t.encode("fi"));
  EXPECT_EQ(t.encode("\xF0\x9F\x98\x80").back(), 0);  // unk
  EXPECT_EQ(vocab_pieces(*dir_ / "nfkc.vocab")[4].rfind("<0x", 0), std::string::npos);
  EXPECT_GT(max_digits_per_piece(t, "in 2024 and 1999"), 1);
  o.normalization = "nfd";
  EXPECT_EQ(error_of([&] { train_tokenizer(o); }),
            "tokenizer training: normalization must be one of identity, nmt_nfkc, nfkc, "
            "nmt_nfkc_cf, nfkc_cf, got 'nfd'");
}

// With byte fallback the vocabulary must hold the 256 byte pieces, the 4 special ones and one
// piece per character of the corpus: a usage error naming the value and the minimum.
TEST_F(DataTest, TokenizerVocabTooSmallForByteFallback) {
  TokenizerTrainOptions o;
  o.input = *dir_ / "corpus.txt";
  o.out = *dir_ / "small.model";
  o.vocab_size = 260;
  EXPECT_EQ(error_of([&] { train_tokenizer(o); }),
            "tokenizer training: vocab_size 260 is too small; expected at least 261 (4 special "
            "pieces, 256 byte pieces for byte fallback and at least one piece per character of "
            "the corpus)");
  o.vocab_size = 300;
  EXPECT_EQ(error_of([&] { train_tokenizer(o); }),
            "tokenizer training on '" + o.input +
                "': vocab_size 300 is too small for this corpus; "
                "expected at least 332 (4 special pieces, 256 byte pieces for byte fallback and 72 "
                "characters at character_coverage 0.99995); raise vocab_size or lower "
                "character_coverage");
  EXPECT_FALSE(test::exists(o.out));
  o.vocab_size = 332;
  train_tokenizer(o);
  EXPECT_EQ(Tokenizer::load(o.out).vocab_size(), 332);
}

// A recipe's tokenizer.train_from goes through the same options: LLaMA's settings.
TEST_F(DataTest, RecipeTrainedTokenizerKeepsTextAsWritten) {
  TokenizerConfig c;
  c.path = *dir_ / "recipe/tok.model";  // prepare_tokenizer creates recipe/
  c.vocab_size = 400;
  c.train_from = *dir_ / "head.txt";
  Tokenizer t = prepare_tokenizer(c);
  for (const auto& text : awkward_texts()) {
    const auto ids = t.encode(text);
    EXPECT_EQ(t.decode(ids), text) << show(text);
    EXPECT_EQ(std::count(ids.begin(), ids.end(), 0), 0) << show(text) << " has unk ids";
  }
}

// A model from Python's sentencepiece (SentencePiece's default ids: no pad piece) loads, pads
// with EOS, and encodes exactly as Python does.
TEST_F(DataTest, TokenizerMatchesPythonAndFallsBackToEosPad) {
  const std::string prefix = *dir_ / "py";
  const std::string text = "a tangible and visible entity; an entity that can cast a shadow";
  auto r =
      test::run_shell(std::string(PTUNE_PYTHON) +
                      " -c '"
                      "import sentencepiece as spm, sys\n"
                      "spm.SentencePieceTrainer.Train(input=sys.argv[1], model_prefix=sys.argv[2], "
                      "vocab_size=250, model_type=\"bpe\", minloglevel=2)\n"
                      "sp = spm.SentencePieceProcessor(model_file=sys.argv[2] + \".model\")\n"
                      "print(\" \".join(map(str, sp.encode(sys.argv[3]))))' " +
                      *dir_ / "head.txt" + " " + prefix + " '" + text + "'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto t = Tokenizer::load(prefix + ".model");
  EXPECT_EQ(t.eos_id(), 2);
  EXPECT_EQ(t.pad_id(), 2);  // no pad piece in this model
  std::string ids;
  for (int32_t id : t.encode(text)) ids += (ids.empty() ? "" : " ") + std::to_string(id);
  EXPECT_EQ(ids + "\n", r.out);
}

// Python's sentencepiece reads a ptune-trained model as ptune does: the same ids for the
// awkward texts, and the text back from them.
TEST_F(DataTest, TokenizerEncodesAsPythonDoes) {
  write_text(*dir_ / "texts.json", nlohmann::json(awkward_texts()).dump());
  write_text(*dir_ / "encode.py",
             "import json, sys, sentencepiece as spm\n"
             "sp = spm.SentencePieceProcessor(model_file=sys.argv[1])\n"
             "for text in json.load(open(sys.argv[2], encoding='utf-8')):\n"
             "    ids = sp.encode(text)\n"
             "    print(' '.join(map(str, ids)), sp.decode(ids) == text)\n");
  auto r = test::run_shell(std::string(PTUNE_PYTHON) + " " + *dir_ / "encode.py" + " " +
                           *dir_ / "tok.model" + " " + *dir_ / "texts.json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string expect;
  for (const auto& text : awkward_texts()) {
    for (int32_t id : tok_->encode(text)) expect += std::to_string(id) + " ";
    expect += "True\n";
  }
  EXPECT_EQ(r.out, expect);
}

// The SentencePiece module is dlopen()ed with RTLD_DEEPBIND: it would see uninitialised
// std::cerr (and a stale __libc_single_threaded) if an executable copy-relocated them. The
// global -fPIC in CMakeLists.txt prevents that; this guards it.
TEST(SentencePieceModule, ExecutablesHaveNoCopyRelocatedRuntimeState) {
  const auto self = std::filesystem::read_symlink("/proc/self/exe").string();
  for (const std::string& exe : {std::string(PTUNE_BINARY), self}) {
    auto r = test::run_shell("readelf -rW " + exe +
                             " | grep R_X86_64_COPY | grep -E '_ZSt4cerr|_ZSt4cout|_ZSt4clog|"
                             "_ZSt3cin|__libc_single_threaded' || true");
    EXPECT_EQ(r.out, "") << exe << " has copy relocations; build it with -fPIC";
  }
}

TEST_F(DataTest, TokenizerLoadAndTrainErrors) {
  try {
    Tokenizer::load(*dir_ / "nope.model");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Runtime);
    EXPECT_EQ(
        std::string(e.what()),
        "tokenizer '" + *dir_ / "nope.model" +
            "': no such file (expected a tokenizer.json, a SentencePiece tokenizer.model, or a "
            "model directory holding one)");
  }
  TokenizerTrainOptions o;
  o.input = *dir_ / "missing.txt";
  o.out = *dir_ / "x.model";
  EXPECT_EQ(error_of([&] { train_tokenizer(o); }),
            "tokenizer training: input corpus '" + o.input + "' does not exist");
  EXPECT_FALSE(test::exists(o.out));
}

// Runs `f` with stdin reading `path` (for the "-" paths).
void with_stdin(const std::string& path, const std::function<void()>& f) {
  ASSERT_NE(std::freopen(path.c_str(), "r", stdin), nullptr);
  std::cin.clear();
  f();
  std::cin.clear();
}

TEST_F(DataTest, TokenizerTrainsFromStdinAndReportsFailure) {
  TokenizerTrainOptions o;
  o.input = "-";
  o.out = *dir_ / "stdin.model";
  o.vocab_size = 360;
  o.model_type = "unigram";
  with_stdin(*dir_ / "head.txt", [&] { train_tokenizer(o); });
  auto t = Tokenizer::load(o.out);
  EXPECT_EQ(t.vocab_size(), 360);
  EXPECT_EQ(t.decode(t.encode("a large body of water")), "a large body of water");
  EXPECT_EQ(t.pad_id(), 3);
  // Only the .model and .vocab remain: the spooled stdin and temporaries are gone.
  int n = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir_->path()))
    n += e.path().filename().string().rfind("stdin", 0) == 0;
  EXPECT_EQ(n, 2);

  write_text(*dir_ / "tiny.txt", "ab\nba\n");
  o.input = *dir_ / "tiny.txt";
  o.out = *dir_ / "tiny.model";
  o.vocab_size = 5000;
  auto msg = error_of([&] { train_tokenizer(o); });
  EXPECT_EQ(msg.rfind("tokenizer training on '" + o.input + "' failed: ", 0), 0u) << msg;
  EXPECT_NE(msg.find("Vocabulary size"), std::string::npos) << msg;
  EXPECT_FALSE(test::exists(o.out));
  o.model_type = "wordpiece";
  EXPECT_EQ(error_of([&] { train_tokenizer(o); }),
            "tokenizer training: model_type must be bpe or unigram, got 'wordpiece'");
}

// Token data needs no tokenizer: these run in sanitizer builds too.
TEST(DatasetTokens, ReadsStdin) {
  TempDir dir;
  write_text(dir / "s.jsonl", "{\"input_ids\": [4, 5, 6]}\n{\"input_ids\": [7, 8]}\n");
  Dataset ds = Dataset::from_examples({});
  with_stdin(dir / "s.jsonl",
             [&] { ds = Dataset::load(data_source("-", "tokens"), nullptr, 8, true); });
  ASSERT_EQ(ds.size(), 2u);
  EXPECT_EQ(ds[0].targets, (V{5, 6}));
  EXPECT_EQ(ds[1].input_ids, (V{7}));
  write_text(dir / "s.jsonl", "{\"input_ids\": [4]}\n");
  with_stdin(dir / "s.jsonl", [&] {
    EXPECT_EQ(
        error_of([&] { Dataset::load(data_source("-", "tokens"), nullptr, 8, true, "data.eval"); }),
        "data.eval: <stdin>:1: field 'input_ids' needs at least 2 tokens, got 1");
  });
}

TEST_F(DataTest, TextStreamPackingWindowsAndEos) {
  write_text(*dir_ / "docs.txt", "the first document\n\n  \nanother one here\nthird\n");
  const std::vector<std::string> docs = {"the first document", "another one here", "third"};
  V stream;
  for (const auto& d : docs) {
    stream.push_back(tok_->bos_id());
    for (int32_t id : tok_->encode(d)) stream.push_back(id);
    stream.push_back(tok_->eos_id());
  }
  const int64_t seq_len = 5;
  auto ds = Dataset::load(data_source(*dir_ / "docs.txt", "text"), tok_, seq_len, true, "data",
                          Packing::kStream);
  const size_t N = stream.size();
  ASSERT_EQ(ds.size(), (N - 1 + seq_len - 1) / seq_len);  // ceil((N-1)/seq_len)
  for (size_t k = 0; k < ds.size(); ++k) {
    const size_t start = k * seq_len, len = std::min<size_t>(seq_len + 1, N - start);
    V in(stream.begin() + start, stream.begin() + start + len - 1);
    V tg(stream.begin() + start + 1, stream.begin() + start + len);
    EXPECT_EQ(ds[k].input_ids, in) << "window " << k;
    EXPECT_EQ(ds[k].targets, tg) << "window " << k;
  }
  EXPECT_EQ(ds.total_targets(), static_cast<int64_t>(N - 1));
  // EOS (2) closes every document: one per document in the whole stream.
  EXPECT_EQ(std::count(stream.begin(), stream.end(), 2), 3);
  // Without BOS the stream starts directly with the first document's tokens.
  auto nob = Dataset::load(data_source(*dir_ / "docs.txt", "text"), tok_, 1000, false, "data",
                           Packing::kStream);
  ASSERT_EQ(nob.size(), 1u);
  EXPECT_EQ(nob[0].input_ids.front(), tok_->encode(docs[0]).front());
  EXPECT_EQ(nob[0].targets.back(), tok_->eos_id());
  EXPECT_EQ(nob[0].input_ids.size(), N - 3 - 1);
}

TEST_F(DataTest, TextDocumentPackingRestartsPositionsAndStopsAtEachDocument) {
  write_text(*dir_ / "docs.txt", "the first document\nanother one here\nthird\n");
  const std::vector<std::string> docs = {"the first document", "another one here", "third"};
  V stream, position;
  std::vector<bool> last;  // the document's last token
  for (const auto& d : docs) {
    V doc = {tok_->bos_id()};
    for (int32_t id : tok_->encode(d)) doc.push_back(id);
    doc.push_back(tok_->eos_id());
    for (size_t i = 0; i < doc.size(); ++i) {
      stream.push_back(doc[i]);
      position.push_back(static_cast<int32_t>(i));
      last.push_back(i + 1 == doc.size());
    }
  }
  const int64_t seq_len = 7;
  auto ds = Dataset::load(data_source(*dir_ / "docs.txt", "text"), tok_, seq_len, true);
  ASSERT_GE(ds.size(), 2u);
  for (size_t k = 0; k < ds.size(); ++k) {
    const size_t start = k * seq_len, n = ds[k].input_ids.size();
    int32_t expect_pos = 0;
    bool several = false;
    for (size_t i = 0; i < n; ++i) {
      EXPECT_EQ(ds[k].input_ids[i], stream[start + i]);
      // A window starts a document; a document continued from the last window restarts at 0.
      if (i > 0) expect_pos = position[start + i] == 0 ? 0 : expect_pos + 1;
      several |= i > 0 && position[start + i] == 0;
      const int32_t want_target = last[start + i] ? -100 : stream[start + i + 1];
      EXPECT_EQ(ds[k].targets[i], want_target) << "window " << k << " token " << i;
      if (!ds[k].positions.empty()) {
        EXPECT_EQ(ds[k].positions[i], expect_pos);
      }
    }
    EXPECT_EQ(ds[k].positions.empty(), !several) << "window " << k;
  }
  // The batch carries the positions; padding tokens are documents of their own (position 0).
  std::vector<const Example*> all;
  bool any_packed = false;
  for (size_t k = 0; k < ds.size(); ++k) {
    all.push_back(&ds[k]);
    any_packed |= !ds[k].positions.empty();
  }
  ASSERT_TRUE(any_packed);
  Batch b = collate(all, 0);
  ASSERT_TRUE(b.positions.defined());
  EXPECT_EQ(b.positions.sizes(), b.input_ids.sizes());
}

TEST_F(DataTest, TextWithoutPackingWindowsEachDocumentAlone) {
  write_text(*dir_ / "docs.txt", "the first document\nanother one here\nthird\n");
  auto ds = Dataset::load(data_source(*dir_ / "docs.txt", "text"), tok_, 1000, true, "data",
                          Packing::kNone);
  ASSERT_EQ(ds.size(), 3u);
  for (size_t k = 0; k < 3; ++k) {
    EXPECT_EQ(ds[k].input_ids.front(), tok_->bos_id());
    EXPECT_EQ(ds[k].targets.back(), tok_->eos_id());
    EXPECT_TRUE(ds[k].positions.empty());
  }
  // A document longer than a window continues in the next window, never with another's.
  auto cut =
      Dataset::load(data_source(*dir_ / "docs.txt", "text"), tok_, 2, true, "data", Packing::kNone);
  EXPECT_GT(cut.size(), 3u);
  for (size_t k = 0; k < cut.size(); ++k)
    EXPECT_EQ(std::count(cut[k].targets.begin(), cut[k].targets.end(), tok_->bos_id()), 0);
}

TEST_F(DataTest, InstructMasksPrompt) {
  write_text(*dir_ / "ins.jsonl",
             "{\"q\": \"Define the word \\\"bank\\\" (noun).\", \"a\": \"sloping land.\"}\n");
  DataSource s = data_source(*dir_ / "ins.jsonl", "instruct");
  s.prompt_field = "q";
  s.response_field = "a";
  s.template_ = "Q: {prompt} A:";
  auto p = tok_->encode("Q: Define the word \"bank\" (noun). A:");
  auto r = tok_->encode("sloping land.");
  V full = {1};
  full.insert(full.end(), p.begin(), p.end());
  full.insert(full.end(), r.begin(), r.end());
  full.push_back(2);
  auto ds = Dataset::load(s, tok_, 1000, true);
  ASSERT_EQ(ds.size(), 1u);
  EXPECT_EQ(ds[0].input_ids, V(full.begin(), full.end() - 1));
  V expect(full.size() - 1, X);  // targets for positions whose next token is the response/EOS
  for (size_t t = p.size(); t < expect.size(); ++t) expect[t] = full[t + 1];
  EXPECT_EQ(ds[0].targets, expect);
  EXPECT_EQ(ds.total_targets(), static_cast<int64_t>(r.size() + 1));
  // Truncation keeps seq_len inputs; the masking stays aligned.
  const int64_t short_len = static_cast<int64_t>(p.size()) + 2;
  auto cut = Dataset::load(s, tok_, short_len, true);
  ASSERT_EQ(cut[0].input_ids.size(), static_cast<size_t>(short_len));
  EXPECT_EQ(cut[0].targets, V(expect.begin(), expect.begin() + short_len));
}

TEST(DatasetTokens, LabelsAndLossMask) {
  TempDir dir;
  write_text(
      dir / "t.jsonl",
      "{\"input_ids\": [10, 11, 12, 13, 14]}\n"
      "{\"input_ids\": [10, 11, 12, 13, 14], \"labels\": [-100, -100, 12, 13, 14]}\n"
      "\n"
      "{\"input_ids\": [10, 11, 12, 13, 14], \"loss_mask\": [0, 0, 0, 1, 1]}\n"
      "{\"input_ids\": [10, 11, 12, 13, 14, 15, 16], \"loss_mask\": [0, 1, 1, 1, 1, 1, 1]}\n");
  auto ds = Dataset::load(data_source(dir / "t.jsonl", "tokens"), nullptr, 4, true);
  ASSERT_EQ(ds.size(), 4u);
  EXPECT_EQ(ds[0].input_ids, (V{10, 11, 12, 13}));  // no BOS added to token data
  EXPECT_EQ(ds[0].targets, (V{11, 12, 13, 14}));
  EXPECT_EQ(ds[1].input_ids, (V{10, 11, 12, 13}));
  EXPECT_EQ(ds[1].targets, (V{X, 12, 13, 14}));     // targets[t] = labels[t+1]
  EXPECT_EQ(ds[2].targets, (V{X, X, 13, 14}));      // targets[t] = ids[t+1] if mask[t+1]
  EXPECT_EQ(ds[3].input_ids, (V{10, 11, 12, 13}));  // truncated to seq_len + 1 = 5 tokens
  EXPECT_EQ(ds[3].targets, (V{11, 12, 13, 14}));
  EXPECT_EQ(ds.total_targets(), 4 + 3 + 2 + 4);
}

TEST_F(DataTest, ErrorMessagesNameFileAndLine) {
  const std::string f = *dir_ / "bad.jsonl";
  write_text(f, "{\"prompt\": \"a\", \"response\": \"b\"}\n{\"prompt\": \"a\"}\n");
  EXPECT_EQ(
      error_of([&] { Dataset::load(data_source(f, "instruct"), tok_, 64, true, "data.train"); }),
      "data.train: " + f + ":2: field 'response' missing");
  write_text(f, "{\"prompt\": \"a\", \"response\": 7}\n");
  EXPECT_EQ(
      error_of([&] { Dataset::load(data_source(f, "instruct"), tok_, 64, true, "data.eval"); }),
      "data.eval: " + f + ":1: field 'response' must be a string, got number");
  write_text(f, "{\"input_ids\": [1, 2]}\n{\"input_ids\": [1, 2\n");
  auto msg =
      error_of([&] { Dataset::load(data_source(f, "tokens"), nullptr, 64, true, "data.train"); });
  EXPECT_EQ(msg.rfind("data.train: " + f + ":2: invalid JSON at column ", 0), 0u) << msg;
  write_text(f, "[1, 2]\n");
  EXPECT_EQ(
      error_of([&] { Dataset::load(data_source(f, "tokens"), nullptr, 64, true, "data.train"); }),
      "data.train: " + f + ":1: expected a JSON object, got array");
  // Found by fuzz_jsonl: nlohmann's out_of_range (not a parse_error) escaped as an uncaught
  // exception.
  write_text(f, "{\"input_ids\": [1, 2], \"labels\": 1e3080}\n");
  EXPECT_EQ(
      error_of([&] { Dataset::load(data_source(f, "tokens"), nullptr, 64, true, "data.train"); }),
      "data.train: " + f +
          ":1: invalid JSON: [json.exception.out_of_range.406] number overflow parsing "
          "'1e3080'");
  write_text(f, "{\"input_ids\": [1, \"x\"]}\n");
  EXPECT_EQ(
      error_of([&] { Dataset::load(data_source(f, "tokens"), nullptr, 64, true, "data.train"); }),
      "data.train: " + f + ":1: field 'input_ids'[1] must be a token id >= 0, got \"x\"");
  write_text(f, "{\"input_ids\": [1, 2, 3], \"loss_mask\": [0, 1, 2]}\n");
  EXPECT_EQ(
      error_of([&] { Dataset::load(data_source(f, "tokens"), nullptr, 64, true, "data.train"); }),
      "data.train: " + f + ":1: field 'loss_mask'[2] must be 0 or 1, got 2");
  write_text(f, "{\"input_ids\": [1, 2, 3], \"labels\": [1, -7, 3]}\n");
  EXPECT_EQ(
      error_of([&] { Dataset::load(data_source(f, "tokens"), nullptr, 64, true, "data.train"); }),
      "data.train: " + f + ":1: field 'labels'[1] must be a token id or -100, got -7");
  write_text(f, "{\"input_ids\": [1, 2, 3], \"labels\": [1, 2]}\n");
  EXPECT_EQ(
      error_of([&] { Dataset::load(data_source(f, "tokens"), nullptr, 64, true, "data.train"); }),
      "data.train: " + f + ":1: field 'labels' has 2 entries but 'input_ids' has 3");
  write_text(f, "\n\n");
  EXPECT_EQ(error_of([&] { Dataset::load(data_source(f, "text"), tok_, 64, true, "data.train"); }),
            "data.train: '" + f + "' holds no examples (format text); expected at least one");
  EXPECT_EQ(error_of([&] {
              Dataset::load(data_source(*dir_ / "none.txt", "text"), tok_, 64, true, "data.train");
            }),
            "data.train: cannot open '" + *dir_ / "none.txt" + "'");
}

// Limits that hold whatever the file: a line that cannot be a record is refused before it is
// read whole, and a record nested past the JSON depth limit is an error, not a stack overflow.
TEST(DatasetLimits, OverlongLineAndDeepNestingAreErrorsNamingFileAndLine) {
  TempDir dir;
  DataSource s;
  s.format = DataFormat::kTokens;
  s.path = dir / "huge.jsonl";
  write_text(s.path, "{\"input_ids\": [1, 2]}\n");
  std::filesystem::resize_file(s.path, kMaxJsonlLineBytes + 4096);  // zeros, no newline
  EXPECT_EQ(error_of([&] { Dataset::load(s, nullptr, 64, true, "data.train"); }),
            "data.train: " + s.path +
                ":2: line longer than 256 MiB; no record is that long; is this a JSONL file (one "
                "JSON object per line)?");
  std::filesystem::remove(s.path);
  s.path = dir / "deep.jsonl";
  write_text(s.path, "{\"input_ids\": [1, 2]}\n{\"input_ids\": [1, 2], \"x\": " +
                         std::string(200000, '[') + "\n");
  EXPECT_EQ(error_of([&] { Dataset::load(s, nullptr, 64, true, "data.train"); }),
            "data.train: " + s.path + ":2: invalid JSON: arrays and objects nested deeper than " +
                std::to_string(kMaxJsonDepth) + " levels (ptune's limit)");
  // The last line needs no newline; a CRLF file reads as LF.
  write_text(s.path, "{\"input_ids\": [1, 2]}\r\n\r\n{\"input_ids\": [3, 4, 5]}");
  auto ds = Dataset::load(s, nullptr, 64, true, "data.train");
  EXPECT_EQ(ds.size(), 2u);
}

TEST(Collate, RightPadsAndCounts) {
  Example a{{5, 6, 7}, {6, 7, 8}}, b{{9}, {X}};
  Batch batch = collate({&a, &b}, 3);
  ASSERT_EQ(batch.input_ids.sizes(), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(batch.input_ids.dtype(), torch::kInt64);
  EXPECT_TRUE(batch.input_ids.equal(torch::tensor({5, 6, 7, 9, 3, 3}, torch::kInt64).view({2, 3})));
  EXPECT_TRUE(
      batch.targets.equal(torch::tensor({6, 7, 8, -100, -100, -100}, torch::kInt64).view({2, 3})));
  EXPECT_EQ(batch.n_targets, 3);
  EXPECT_EQ(batch.n_tokens, 4);
}

Dataset numbered(int n) {  // example i has input {i}, target {i}
  std::vector<Example> ex;
  for (int i = 0; i < n; ++i) ex.push_back({{i}, {i}});
  return Dataset::from_examples(std::move(ex));
}

std::vector<int64_t> ids_of(const Batch& b) {
  auto t = b.input_ids.flatten().contiguous();
  return std::vector<int64_t>(t.data_ptr<int64_t>(), t.data_ptr<int64_t>() + t.numel());
}

TEST(BatchIterator, EpochsArePermutationsAndDiffer) {
  Dataset d = numbered(10);
  BatchIterator it(d, 5, 42, true, 0);
  std::vector<int64_t> e0, e1;
  for (int i = 0; i < 2; ++i)
    for (auto x : ids_of(it.next())) e0.push_back(x);
  EXPECT_EQ(it.position().epoch, 0);
  EXPECT_EQ(it.position().cursor, 10);
  for (int i = 0; i < 2; ++i)
    for (auto x : ids_of(it.next())) e1.push_back(x);
  EXPECT_EQ(it.position().epoch, 1);
  EXPECT_NE(e0, e1);
  auto s0 = e0, s1 = e1;
  std::sort(s0.begin(), s0.end());
  std::sort(s1.begin(), s1.end());
  std::vector<int64_t> all(10);
  std::iota(all.begin(), all.end(), 0);
  EXPECT_EQ(s0, all);
  EXPECT_EQ(s1, all);
  // Without shuffling the order is the identity; a batch crossing the epoch end continues
  // with the next epoch's order.
  BatchIterator plain(d, 4, 42, false, 0);
  plain.next();
  plain.next();
  EXPECT_EQ(ids_of(plain.next()), (std::vector<int64_t>{8, 9, 0, 1}));
  EXPECT_EQ(plain.position().epoch, 1);
  EXPECT_EQ(plain.position().cursor, 2);
}

TEST(BatchIterator, DeterministicAndResumable) {
  Dataset d = numbered(7);
  BatchIterator a(d, 3, 9, true, 0), b(d, 3, 9, true, 0);
  std::vector<std::vector<int64_t>> seq;
  std::vector<DataPosition> pos;
  for (int i = 0; i < 12; ++i) {
    pos.push_back(a.position());
    seq.push_back(ids_of(a.next()));
    EXPECT_EQ(ids_of(b.next()), seq.back());
  }
  for (int from : {0, 3, 5, 11}) {  // a fresh iterator restored at any position continues exactly
    BatchIterator r(d, 3, 9, true, 0);
    r.set_position(pos[from]);
    for (int i = from; i < 12; ++i) EXPECT_EQ(ids_of(r.next()), seq[i]) << "from " << from;
  }
  BatchIterator other_seed(d, 3, 10, true, 0);
  std::vector<std::vector<int64_t>> seq2;
  for (int i = 0; i < 12; ++i) seq2.push_back(ids_of(other_seed.next()));
  EXPECT_NE(seq, seq2);
  EXPECT_EQ(error_of([&] {
              a.set_position({0, 8});
            }),
            "data position (epoch 0, cursor 8) does not fit a dataset of 7 examples; was the "
            "checkpoint made with different data?");
}

}  // namespace
}  // namespace ptune
