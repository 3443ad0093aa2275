// HfTokenizer (tokenizer.json engine) on small hand-written fixtures in
// tests/data/fixtures/hf_tokenizer/ and two built here (GPT-2 style byte-level BPE, Llama-2
// style byte-fallback BPE). Every expected id was derived by hand from HF tokenizers' algorithm
// and confirmed once with HF's own library (npm `tokenizers` 0.23.2); these tests need neither.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "error_helpers.h"
#include "ptune/core/error.h"
#include "ptune/data/hf_tokenizer.h"
#include "test_util.h"

namespace ptune {
namespace {

using json = nlohmann::json;
using test::error_of;
using V = std::vector<int32_t>;

std::string fixture_path(const std::string& name) {
  return std::string(PTUNE_SOURCE_DIR) + "/tests/data/fixtures/hf_tokenizer/" + name;
}

json read_fixture(const std::string& name) {
  std::ifstream in(fixture_path(name));
  EXPECT_TRUE(in) << "missing fixture " << name;
  std::stringstream s;
  s << in.rdbuf();
  return json::parse(s.str());
}

// GPT-2's byte -> char map (written out independently of the engine's).
std::string byte_char(int b) {
  const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
  int c = b;
  if (!printable) {
    int n = 0;
    for (int k = 0; k < b; ++k)
      if (!((k >= '!' && k <= '~') || (k >= 0xA1 && k <= 0xAC) || k >= 0xAE)) ++n;
    c = 256 + n;
  }
  std::string s;
  if (c < 0x80) {
    s += static_cast<char>(c);
  } else {
    s += static_cast<char>(0xC0 | (c >> 6));
    s += static_cast<char>(0x80 | (c & 0x3F));
  }
  return s;
}

json added(int id, const std::string& content) {
  return {{"id", id},        {"content", content},  {"single_word", false}, {"lstrip", false},
          {"rstrip", false}, {"normalized", false}, {"special", true}};
}

json bpe_model(json vocab, const std::vector<std::pair<std::string, std::string>>& merges) {
  json m = json::array();  // [["a", "b"], ...] (a braced list would read as an object)
  for (const auto& [a, b] : merges) m.push_back(json::array({a, b}));
  return {{"type", "BPE"},
          {"dropout", nullptr},
          {"unk_token", nullptr},
          {"fuse_unk", false},
          {"byte_fallback", false},
          {"ignore_merges", false},
          {"vocab", std::move(vocab)},
          {"merges", std::move(m)}};
}

// GPT-2 style: one token per byte (id = byte value), "Ġt" 256, "he" 257, "Ġthe" 258, and
// <|endoftext|> 259.
json byte_level_tokenizer() {
  json vocab = json::object();
  for (int b = 0; b < 256; ++b) vocab[byte_char(b)] = b;
  vocab["\u0120t"] = 256;
  vocab["he"] = 257;
  vocab["\u0120the"] = 258;
  const json bl = {{"type", "ByteLevel"},
                   {"add_prefix_space", false},
                   {"trim_offsets", true},
                   {"use_regex", true}};
  return {{"version", "1.0"},
          {"added_tokens", {added(259, "<|endoftext|>")}},
          {"normalizer", nullptr},
          {"pre_tokenizer", bl},
          {"post_processor", bl},
          {"decoder", bl},
          {"model", bpe_model(vocab, {{"\u0120", "t"}, {"h", "e"}, {"\u0120t", "he"}})}};
}

// Llama-2 style: <unk> <s> </s>, <0x00>..<0xFF> at 3..258, then "▁" 259, t h e, "th" 263,
// "the" 264, "▁the" 265; text gets "▁" prepended and spaces become "▁".
json byte_fallback_tokenizer() {
  json vocab = {{"<unk>", 0}, {"<s>", 1}, {"</s>", 2}};
  for (int b = 0; b < 256; ++b) vocab[fmt::format("<0x{:02X}>", b)] = 3 + b;
  const char* words[] = {"\u2581", "t", "h", "e", "th", "the", "\u2581the"};
  for (int i = 0; i < 7; ++i) vocab[words[i]] = 259 + i;
  json model = bpe_model(vocab, {{"t", "h"}, {"th", "e"}, {"\u2581", "the"}});
  model["unk_token"] = "<unk>";
  model["fuse_unk"] = true;
  model["byte_fallback"] = true;
  const json s = {{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}};
  const json a = {{"Sequence", {{"id", "A"}, {"type_id", 0}}}};
  const json b = {{"Sequence", {{"id", "B"}, {"type_id", 1}}}};
  return {{"version", "1.0"},
          {"added_tokens", {added(0, "<unk>"), added(1, "<s>"), added(2, "</s>")}},
          {"normalizer",
           {{"type", "Sequence"},
            {"normalizers",
             {{{"type", "Prepend"}, {"prepend", "\u2581"}},
              {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", "\u2581"}}}}}},
          {"pre_tokenizer", nullptr},
          {"post_processor",
           {{"type", "TemplateProcessing"},
            {"single", {s, a}},
            {"pair", {s, a, s, b}},
            {"special_tokens", {{"<s>", {{"id", "<s>"}, {"ids", {1}}, {"tokens", {"<s>"}}}}}}}},
          {"decoder",
           {{"type", "Sequence"},
            {"decoders",
             {{{"type", "Replace"}, {"pattern", {{"String", "\u2581"}}}, {"content", " "}},
              {{"type", "ByteFallback"}},
              {{"type", "Fuse"}},
              {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}}}}},
          {"model", model}};
}

const std::vector<std::string>& round_trip_texts() {
  static const std::vector<std::string> texts = {
      "",
      " ",
      "Hello, world!",
      "  two  spaces\tand\ttabs\r\nand CRLF\n\n",
      "naïve café Ünïcödé e\u0301 (decomposed)",
      "日本語のテキスト、中文，한국어",
      "Привет мир; مرحبا; שלום; हिन्दी; ไทย",
      "emoji 😀👍🏽 👨‍👩‍👧 🇫🇷 \U0001F9E0",
      "\U0010FFFF \U00020000 \uFFFD",
      std::string("nul \0 inside", 12),
      // Not here: a literal "▁", which SentencePiece-style decoders turn into a space, and added
      // tokens, before whose following text the Prepend normalizer puts one (both as in HF).
      "looks like tokens: <0x41> <0xZZ> \u0120 <unk",
      "\u0301 lone combining mark, \u200d ZWJ, \ufeff BOM",
  };
  return texts;
}

class HfTokenizerTest : public ::testing::Test {
 protected:
  // Writes `j` to the temp dir and loads it.
  HfTokenizer load_json(const json& j, const std::string& name = "tokenizer.json") {
    const std::string path = dir_ / name;
    test::write_text(path, j.dump());
    return HfTokenizer::load(path);
  }
  // Loads a fixture, optionally edited first.
  HfTokenizer load(const std::string& name, const std::function<void(json&)>& edit = {}) {
    if (!edit) return HfTokenizer::load(fixture_path(name));
    json j = read_fixture(name);
    edit(j);
    return load_json(j, name);
  }
  // The message of the error loading `j` throws.
  std::string load_error(const json& j, ErrorKind kind) {
    return error_of([&] { load_json(j); }, kind);
  }
  test::TempDir dir_;
};

TEST_F(HfTokenizerTest, MergesApplyLowestRankFirstThenLeftmost) {
  // merges: (b c) rank 0, (a b) 1, (ab c) 2, (a a) 3
  HfTokenizer t = load("bpe_ranks.json");
  EXPECT_EQ(t.encode("abc"), (V{0, 4}));  // b+c first; then (a, bc) is no merge
  EXPECT_EQ(t.encode("ab"), (V{3}));
  EXPECT_EQ(t.encode("aaa"), (V{6, 0}));  // the tie goes to the leftmost pair
  EXPECT_EQ(t.encode("aaaa"), (V{6, 6}));
  EXPECT_EQ(t.encode("abcab"), (V{0, 4, 3}));
  EXPECT_EQ(t.encode(""), V{});
  // The same table as "a b" strings (with a #version line), ranked a b, b c, ab c, a a.
  HfTokenizer legacy = load("bpe_legacy_merges.json");
  EXPECT_EQ(legacy.encode("abc"), (V{5}));
  EXPECT_EQ(legacy.encode("abcab"), (V{5, 3}));
  EXPECT_EQ(legacy.encode("bc"), (V{4}));
}

TEST_F(HfTokenizerTest, IgnoreMergesTakesWholeWordsFromTheVocab) {
  // "abc" is in the vocab but no merge builds it; the Split pre-tokenizer cuts at spaces.
  EXPECT_EQ(load("bpe_ignore_merges.json").encode("abc ab abcab"), (V{4, 3, 3, 2, 3}));
  auto off = [](json& j) { j["model"]["ignore_merges"] = false; };
  EXPECT_EQ(load("bpe_ignore_merges.json", off).encode("abc ab abcab"), (V{3, 2, 3, 3, 2, 3}));
}

TEST_F(HfTokenizerTest, ByteFallbackThenUnk) {
  // vocab: <unk> 0, a 1, <0xC3> 2, <0xA9> 3, <0xE2> 4, <0x82> 5; '€' = E2 82 AC lacks <0xAC>.
  HfTokenizer t = load("bpe_byte_fallback.json");
  EXPECT_EQ(t.encode("a\u00e9"), (V{1, 2, 3}));
  EXPECT_EQ(t.encode("\u20ac"), (V{0}));
  EXPECT_EQ(t.encode("\u20ac\u20aca"), (V{0, 1}));  // fuse_unk: one <unk> for the run
  // HF's order: the pending <unk> is only added after the byte tokens that follow it.
  EXPECT_EQ(t.encode("\u20ac\u00e9"), (V{2, 3, 0}));
  EXPECT_EQ(t.decode({2, 3}), "\u00e9");
  EXPECT_EQ(t.decode({4, 5, 1}), "\uFFFD\uFFFDa");  // invalid UTF-8 bytes: one U+FFFD each
  EXPECT_EQ(t.decode({1, 0}), "a<unk>");

  auto no_fuse = [](json& j) { j["model"]["fuse_unk"] = false; };
  EXPECT_EQ(load("bpe_byte_fallback.json", no_fuse).encode("\u20ac\u20aca"), (V{0, 0, 1}));
  auto no_unk = [](json& j) { j["model"]["unk_token"] = nullptr; };
  EXPECT_EQ(load("bpe_byte_fallback.json", no_unk).encode("\u20ac\u20aca\u00e9"), (V{1, 2, 3}));
}

TEST_F(HfTokenizerTest, AddedTokens) {
  // 19 one-char tokens (" " 0, a 1, ..., x 7, y 8, < 9, > 10, s 11, o 16, k 17) and a
  // Lowercase normalizer. Added tokens take the ids after the vocab in file order (HF ignores
  // their "id" fields): <s> 19, [X] 20 (lstrip), [Y] 21 (rstrip), ok 22 (single_word),
  // Hi 23 (normalized), abc 24, abcd 25.
  HfTokenizer t = load("added_tokens.json");
  EXPECT_EQ(t.vocab_size(), 26);
  EXPECT_EQ(t.token_to_id("<s>"), 19);
  EXPECT_EQ(t.token_to_id("Hi"), 23);
  EXPECT_EQ(t.token_to_id("zz"), std::nullopt);
  EXPECT_EQ(t.encode("x<s>y"), (V{7, 19, 8}));
  EXPECT_EQ(t.encode("<S>"), (V{9, 11, 10}));     // matched before normalization: case counts
  EXPECT_EQ(t.encode("x  [X]y"), (V{7, 20, 8}));  // lstrip takes the spaces before
  EXPECT_EQ(t.encode("x  [Y]  y"), (V{7, 0, 0, 21, 8}));  // rstrip the spaces after
  EXPECT_EQ(t.encode("ok ok"), (V{22, 0, 22}));
  EXPECT_EQ(t.encode("okx ok"), (V{16, 17, 7, 0, 22}));  // "okx": not a single word
  EXPECT_EQ(t.encode("xok"), (V{7, 16, 17}));
  EXPECT_EQ(t.encode("HI hi Hi"), (V{23, 0, 23, 0, 23}));          // matched after lowercasing
  EXPECT_EQ(t.encode("abcd abc abcx"), (V{25, 0, 24, 0, 24, 7}));  // longest match first
  // No decoder: tokens joined by spaces. A normalized token decodes to its normalized form.
  EXPECT_EQ(t.decode({7, 19, 8}), "x <s> y");
  EXPECT_EQ(t.decode({7, 19, 8}, /*skip_special=*/true), "x y");
  EXPECT_EQ(t.id_to_token(23), "hi");
  EXPECT_EQ(t.id_to_token(7), "x");
}

TEST_F(HfTokenizerTest, MetaspacePrependSchemes) {
  // "▁hello" 9, "hello" 8, <s> 10; prepend_scheme "first": only a piece at offset 0 of the
  // input gets the "▁", not one that follows an added token.
  HfTokenizer t = load("metaspace.json");
  EXPECT_EQ(t.encode("hello"), (V{9}));
  EXPECT_EQ(t.encode("hello hello"), (V{9, 9}));
  EXPECT_EQ(t.encode("<s>hello"), (V{10, 8}));
  EXPECT_EQ(t.encode("<s> hello"), (V{10, 9}));
  EXPECT_EQ(t.encode("hello<s>hello"), (V{9, 10, 8}));
  EXPECT_EQ(t.decode({9, 9}), "hello hello");
  EXPECT_EQ(t.decode({10, 9}), "<s> hello");
  EXPECT_EQ(t.decode({10, 9}, true), "hello");
  auto scheme = [](const char* s) {
    return [s](json& j) { j["pre_tokenizer"]["prepend_scheme"] = s; };
  };
  EXPECT_EQ(load("metaspace.json", scheme("always")).encode("<s>hello"), (V{10, 9}));
  EXPECT_EQ(load("metaspace.json", scheme("never")).encode("hello hello"), (V{8, 9}));
}

TEST_F(HfTokenizerTest, SplitBehaviors) {
  // Each piece of "a-b--c" is a token: a 0, b 1, c 2, - 3, a- 4, b- 5, -b 6, -c 7, -- 8.
  const std::pair<const char*, V> cases[] = {{"Removed", {0, 1, 2}},
                                             {"Isolated", {0, 3, 1, 3, 3, 2}},
                                             {"MergedWithPrevious", {4, 5, 3, 2}},
                                             {"MergedWithNext", {0, 6, 3, 7}},
                                             {"Contiguous", {0, 3, 1, 8, 2}}};
  for (const auto& [behavior, ids] : cases) {
    auto edit = [b = behavior](json& j) { j["pre_tokenizer"]["behavior"] = b; };
    EXPECT_EQ(load("split.json", edit).encode("a-b--c"), ids) << behavior;
  }
  auto invert = [](json& j) {
    j["pre_tokenizer"]["behavior"] = "Removed";
    j["pre_tokenizer"]["invert"] = true;
  };
  EXPECT_EQ(load("split.json", invert).encode("a-b--c"), (V{3, 3, 3}));
}

TEST_F(HfTokenizerTest, RegexesMatchAsOniguruma) {
  auto regex = [](const char* pattern) {
    return [pattern](json& j) {
      j["pre_tokenizer"]["pattern"] = {{"Regex", pattern}};
      j["pre_tokenizer"]["behavior"] = "Removed";
    };
  };
  // Oniguruma's \s includes U+0085 (NEL), which PCRE2's does not.
  EXPECT_EQ(load("split.json", regex(R"(\s)")).encode("a\u0085b"), (V{0, 1}));
  // ^ is a line anchor in Ruby syntax.
  EXPECT_EQ(load("split.json", regex("^-")).encode("-a\n-b"), (V{0, 1}));
  // Ruby's (?m) lets '.' match \n (PCRE2's (?s)); without it '.' stops at \n.
  EXPECT_EQ(load("split.json", regex("(?m:a.b)")).encode("a\nb-c"), (V{7}));
  EXPECT_EQ(load("split.json", regex("a.b")).encode("a\nb-c"), (V{0, 1, 3, 2}));  // \n: no token
  // (?i:) folds the Kelvin sign with k.
  EXPECT_EQ(load("split.json", regex("(?i:k)")).encode("a\u212abKc"), (V{0, 1, 2}));
}

TEST_F(HfTokenizerTest, Digits) {
  EXPECT_EQ(load("digits.json").encode("a123"), (V{0, 1, 2, 3}));
  EXPECT_EQ(load("digits.json").encode("a\u00b2"), (V{0, 5}));  // ² is numeric too
  auto runs = [](json& j) { j["pre_tokenizer"]["individual_digits"] = false; };
  EXPECT_EQ(load("digits.json", runs).encode("a123"), (V{0, 4}));
}

TEST_F(HfTokenizerTest, UnicodeNormalizers) {
  // é 0, e 1, U+0301 2, f 3, i 4, ﬁ 5
  HfTokenizer nfc = load("nfc.json");
  EXPECT_EQ(nfc.encode("e\u0301"), (V{0}));
  EXPECT_EQ(nfc.encode("\u00e9"), (V{0}));
  EXPECT_EQ(nfc.encode("\ufb01"), (V{5}));  // NFC keeps the ligature
  auto set = [](const char* type) {
    return [type](json& j) { j["normalizer"] = {{"type", type}}; };
  };
  EXPECT_EQ(load("nfc.json", set("NFD")).encode("\u00e9"), (V{1, 2}));
  EXPECT_EQ(load("nfc.json", set("NFKC")).encode("\ufb01"), (V{3, 4}));
}

TEST_F(HfTokenizerTest, ByteLevelBpe) {
  HfTokenizer t = load_json(byte_level_tokenizer());
  // GPT-2 regex pieces "the", " the": t+he, then Ġt + he.
  EXPECT_EQ(t.encode("the the"), (V{116, 257, 258}));
  EXPECT_EQ(t.encode("the<|endoftext|>the"), (V{116, 257, 259, 116, 257}));
  EXPECT_EQ(t.encode("\u00e9"), (V{0xC3, 0xA9}));
  EXPECT_EQ(t.template_prefix(), V{});
  EXPECT_EQ(t.encode_with_specials("the"), (V{116, 257}));
  EXPECT_EQ(t.vocab_size(), 260);
  for (const std::string& s : round_trip_texts()) EXPECT_EQ(t.decode(t.encode(s)), s) << s;
  EXPECT_EQ(t.decode(t.encode("a<|endoftext|> \u2581")), "a<|endoftext|> \u2581");
  // add_prefix_space puts a space before every piece, the one after an added token included.
  json j = byte_level_tokenizer();
  j["pre_tokenizer"]["add_prefix_space"] = true;
  EXPECT_EQ(load_json(j).encode("the<|endoftext|>the"), (V{258, 259, 258}));
}

TEST_F(HfTokenizerTest, ByteFallbackBpe) {
  HfTokenizer t = load_json(byte_fallback_tokenizer());
  EXPECT_EQ(t.encode("the the"), (V{265, 265}));  // "▁the▁the": t+h twice, th+e, ▁+the
  EXPECT_EQ(t.encode("\u00e9"), (V{259, 3 + 0xC3, 3 + 0xA9}));
  EXPECT_EQ(t.encode("<s>the</s>"), (V{1, 265, 2}));  // every piece gets its own "▁"
  EXPECT_EQ(t.template_prefix(), V{1});
  EXPECT_EQ(t.template_suffix(), V{});
  EXPECT_EQ(t.encode_with_specials("the"), (V{1, 265}));
  EXPECT_EQ(t.encode_with_specials(""), (V{1}));
  EXPECT_EQ(t.decode({1, 265, 265}, /*skip_special=*/true), "the the");
  for (const std::string& s : round_trip_texts()) EXPECT_EQ(t.decode(t.encode(s)), s) << s;
  // A long text is one word here; it is merged in chunks, with the same result.
  std::string many;
  for (int i = 0; i < 300; ++i) many += "the ";
  const V ids = t.encode(many);
  ASSERT_EQ(ids.size(), 301u);
  EXPECT_EQ(ids.back(), 259);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), 265), 300);
  EXPECT_EQ(t.decode(ids), many);
}

TEST_F(HfTokenizerTest, TemplateAroundTheText) {
  json j = byte_fallback_tokenizer();
  const json s = {{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}};
  const json e = {{"SpecialToken", {{"id", "</s>"}, {"type_id", 0}}}};
  const json a = {{"Sequence", {{"id", "A"}, {"type_id", 0}}}};
  j["post_processor"]["single"] = {s, a, e};
  j["post_processor"]["special_tokens"]["</s>"] = {
      {"id", "</s>"}, {"ids", {2}}, {"tokens", {"</s>"}}};
  // Inside a Sequence with ByteLevel, as Llama-3's tokenizer.json has it.
  j["post_processor"] = {{"type", "Sequence"},
                         {"processors",
                          {{{"type", "ByteLevel"},
                            {"add_prefix_space", false},
                            {"trim_offsets", false},
                            {"use_regex", true}},
                           j["post_processor"]}}};
  HfTokenizer t = load_json(j);
  EXPECT_EQ(t.template_prefix(), V{1});
  EXPECT_EQ(t.template_suffix(), V{2});
  EXPECT_EQ(t.encode_with_specials("the"), (V{1, 265, 2}));
  EXPECT_EQ(t.encode("the"), (V{265}));
}

TEST_F(HfTokenizerTest, InvalidUtf8BecomesReplacementChars) {
  HfTokenizer t = load_json(byte_level_tokenizer());
  const V fffd = t.encode("\uFFFD");
  EXPECT_EQ(t.encode("\xFF"), fffd);
  EXPECT_EQ(t.encode("\xE2\x82"), fffd);  // a truncated sequence is one U+FFFD
  V two = fffd;
  two.insert(two.end(), fffd.begin(), fffd.end());
  EXPECT_EQ(t.encode("\xC0\xAF"), two);  // an overlong form: each byte is one
  EXPECT_EQ(t.decode(t.encode("a\xFFz")), "a\uFFFDz");
}

TEST_F(HfTokenizerTest, DecodeChecksIds) {
  HfTokenizer t = load("bpe_ranks.json");
  EXPECT_EQ(t.decode({0, 1, 2}), "a b c");
  const std::string msg = error_of([&] { t.decode({0, 7}); }, ErrorKind::Usage);
  EXPECT_CONTAINS(msg, "cannot decode id 7: expected 0 <= id < 7");
  EXPECT_CONTAINS(msg, "bpe_ranks.json");
  EXPECT_CONTAINS(error_of([&] { t.decode({-1}); }, ErrorKind::Usage), "id -1");
  EXPECT_EQ(t.id_to_token(99), "");
}

TEST_F(HfTokenizerTest, ConcurrentEncodesAgree) {
  HfTokenizer t = load_json(byte_level_tokenizer());
  std::string text;
  for (const std::string& s : round_trip_texts()) text += s + " the ";
  const V want = t.encode(text);
  std::vector<std::thread> threads;
  std::vector<int> ok(4, 0);
  for (int i = 0; i < 4; ++i)
    threads.emplace_back([&, i] {
      for (int k = 0; k < 50; ++k) ok[i] += t.encode(text) == want;
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok, std::vector<int>(4, 50));
}

TEST_F(HfTokenizerTest, UnsupportedComponentsAreNamed) {
  json j = byte_fallback_tokenizer();
  j["normalizer"] = {{"type", "Precompiled"}, {"precompiled_charsmap", "AA=="}};
  std::string msg = load_error(j, ErrorKind::Usage);
  EXPECT_CONTAINS(msg, "normalizer type 'Precompiled' is not supported (supported: NFC");
  EXPECT_CONTAINS(msg, dir_ / "tokenizer.json");

  j = byte_level_tokenizer();
  j["pre_tokenizer"] = {{"type", "Sequence"},
                        {"pretokenizers", {j["pre_tokenizer"], {{"type", "Whitespace"}}}}};
  EXPECT_CONTAINS(load_error(j, ErrorKind::Usage),
                  "pre_tokenizer.pretokenizers[1] type 'Whitespace' is not supported");

  j = byte_level_tokenizer();
  j["model"]["type"] = "WordPiece";
  EXPECT_CONTAINS(load_error(j, ErrorKind::Usage),
                  "model type 'WordPiece' is not supported (supported: BPE)");

  j = byte_level_tokenizer();
  j["post_processor"] = {{"type", "RobertaProcessing"}};
  EXPECT_CONTAINS(load_error(j, ErrorKind::Usage),
                  "post_processor type 'RobertaProcessing' is not supported");

  j = byte_level_tokenizer();
  j["decoder"] = {{"type", "WordPiece"}, {"prefix", "##"}};
  EXPECT_CONTAINS(load_error(j, ErrorKind::Usage), "decoder type 'WordPiece' is not supported");

  j = byte_level_tokenizer();
  j["model"]["dropout"] = 0.1;
  EXPECT_CONTAINS(load_error(j, ErrorKind::Usage), "model.dropout 0.1 is not supported");

  j = byte_level_tokenizer();
  j["pre_tokenizer"] = {{"type", "Split"},
                        {"pattern", {{"Regex", "[a[b]]"}}},
                        {"behavior", "Isolated"},
                        {"invert", false}};
  EXPECT_CONTAINS(load_error(j, ErrorKind::Usage), "uses a nested character class");
}

TEST_F(HfTokenizerTest, CorruptFilesAreRuntimeErrors) {
  const std::string bad = dir_ / "bad.json";
  test::write_text(bad, "{\"model\": ");
  std::string msg = error_of([&] { HfTokenizer::load(bad); });
  EXPECT_CONTAINS(msg, "tokenizer '" + bad + "' is not valid JSON");
  EXPECT_CONTAINS(error_of([&] { HfTokenizer::load(dir_ / "missing.json"); }),
                  "cannot read tokenizer '" + (dir_ / "missing.json") + "'");

  json j = byte_level_tokenizer();
  j["model"]["merges"].push_back(json::array({"x", "yz"}));
  EXPECT_CONTAINS(load_error(j, ErrorKind::Runtime),
                  "model.merges[3]: token \"yz\" is not in the vocab");

  j = read_fixture("metaspace.json");
  j["pre_tokenizer"]["add_prefix_space"] = false;  // contradicts prepend_scheme "first"
  EXPECT_CONTAINS(load_error(j, ErrorKind::Runtime),
                  "pre_tokenizer: add_prefix_space false contradicts prepend_scheme");

  j = byte_level_tokenizer();
  j["pre_tokenizer"].erase("add_prefix_space");
  EXPECT_CONTAINS(load_error(j, ErrorKind::Runtime),
                  "pre_tokenizer: missing field 'add_prefix_space'");

  // Ids index dense tables: one id of 2^31 - 1 would have cost 64 GB before any check.
  j = byte_level_tokenizer();
  const int64_t n = static_cast<int64_t>(j["model"]["vocab"].size()) + 1;
  j["model"]["vocab"]["far"] = 2147483647;
  EXPECT_CONTAINS(load_error(j, ErrorKind::Runtime),
                  "model.vocab: ids reach 2147483647 but there are only " + std::to_string(n) +
                      " tokens; ids must be below " + std::to_string(2 * n + 65536));
  j["model"]["vocab"]["far"] = 2 * n + 65535;  // the largest id allowed
  EXPECT_EQ(load_json(j).vocab_size(), 2 * n + 65536);
}

}  // namespace
}  // namespace ptune
