// Tokenizer::load on a tokenizer.json with the configs transformers reads beside it
// (data/wordnet-bpe: SmolLM2-shaped byte-level BPE, no BOS, two generation eos ids), told apart
// from SentencePiece by content; special ids from the post-processor and tokenizer_config.json.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "error_helpers.h"
#include "ptune/data/tokenizer.h"
#include "test_paths.h"
#include "test_util.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace ptune {
namespace {

const std::string kBpeDir = std::string(PTUNE_SOURCE_DIR) + "/data/wordnet-bpe";

TEST(Tokenizer, DirectoryWithTokenizerJsonAndItsConfigs) {
  for (const std::string& path : {kBpeDir, kBpeDir + "/tokenizer.json"}) {
    Tokenizer t = Tokenizer::load(path);
    EXPECT_FALSE(t.is_sentencepiece());
    EXPECT_EQ(t.path(), kBpeDir + "/tokenizer.json");
    EXPECT_EQ(t.vocab_size(), 4096);
    EXPECT_EQ(t.bos_id(), -1) << "SmolLM2-shaped: the post-processor adds no BOS";
    EXPECT_EQ(t.eos_id(), 0);  // tokenizer_config eos_token <|endoftext|>
    EXPECT_EQ(t.pad_id(), 0);
    EXPECT_EQ(t.stop_ids(), (std::vector<int64_t>{0, 2}));  // + generation_config's <|im_end|>
    EXPECT_EQ(t.token_id("<|im_end|>"), 2);
    EXPECT_NE(t.chat_template().find("<|im_start|>"), std::string::npos);
    std::vector<std::string> names;
    for (const auto& [src, name] : t.files()) names.push_back(name);
    EXPECT_EQ(names, (std::vector<std::string>{"tokenizer.json", "tokenizer_config.json",
                                               "generation_config.json"}));
    const std::string text = "lantern (noun): light in a transparent case — “für” 灯笼\n";
    EXPECT_EQ(t.decode(t.encode(text)), text);
    EXPECT_EQ(t.encode("<|im_start|>user")[0], 1);
  }
}

TEST(Tokenizer, BosFromTheTemplateAndConfigErrorsNameTheFile) {
  test::TempDir d;
  json tj = json::parse(test::read_text(kBpeDir + "/tokenizer.json"));
  // Llama-3's form: TemplateProcessing puts a BOS before every sequence.
  tj["post_processor"] = json::parse(R"({"type": "TemplateProcessing",
      "single": [{"SpecialToken": {"id": "<|im_start|>", "type_id": 0}},
                 {"Sequence": {"id": "A", "type_id": 0}}],
      "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
      "special_tokens": {"<|im_start|>": {"id": "<|im_start|>", "ids": [1],
                                          "tokens": ["<|im_start|>"]}}})");
  test::write_text(d / "tokenizer.json", tj.dump());
  test::write_text(d / "generation_config.json", R"({"eos_token_id": 2})");
  Tokenizer t = Tokenizer::load(d.path());
  EXPECT_EQ(t.bos_id(), 1);
  EXPECT_EQ(t.eos_id(), 2) << "no tokenizer_config.json: generation_config's eos";
  EXPECT_EQ(t.pad_id(), 2);

  test::write_text(d / "tokenizer_config.json", R"({"eos_token": {"content": "<|eot|>"}})");
  EXPECT_EQ(test::error_of([&] { Tokenizer::load(d.path()); }),
            d.path() + "/tokenizer_config.json: eos_token \"<|eot|>\" is not a token of " +
                d.path() + "/tokenizer.json");
  test::write_text(d / "tokenizer_config.json", R"({"add_bos_token": "yes"})");
  EXPECT_EQ(test::error_of([&] { Tokenizer::load(d.path()); }),
            d.path() + "/tokenizer_config.json: add_bos_token must be true or false, got \"yes\"");
  test::write_text(d / "tokenizer_config.json", "{}");
  test::write_text(d / "generation_config.json", R"({"eos_token_id": "2"})");
  EXPECT_CONTAINS(test::error_of([&] { Tokenizer::load(d.path()); }),
                  "generation_config.json: eos_token_id must be an integer or a list of integers");
  fs::remove(d / "tokenizer.json");
  EXPECT_EQ(test::error_of([&] { Tokenizer::load(d.path()); }, ErrorKind::Usage),
            "tokenizer: '" + d.path() + "' holds neither tokenizer.json nor tokenizer.model");
}

// chat_template.jinja (newer transformers) wins over the config field; a list of named
// templates gives its "default".
TEST(Tokenizer, ChatTemplateFileAndNamedTemplates) {
  test::TempDir d;
  fs::copy_file(kBpeDir + "/tokenizer.json", d / "tokenizer.json");
  test::write_text(d / "tokenizer_config.json",
                   R"({"chat_template": [{"name": "tool_use", "template": "T"},
                                         {"name": "default", "template": "D"}]})");
  EXPECT_EQ(Tokenizer::load(d.path()).chat_template(), "D");
  test::write_text(d / "chat_template.jinja", "J");
  EXPECT_EQ(Tokenizer::load(d.path()).chat_template(), "J");
}

}  // namespace
}  // namespace ptune

// Found by fuzz_sentencepiece: a model with an empty piece made libsentencepiece's darts_clone
// throw through the module; it is a runtime error naming the file.
TEST(Tokenizer, SentencePieceModelWithAnEmptyPieceIsAnErrorNamingTheFile) {
  if (!ptune::sentencepiece_available()) GTEST_SKIP() << "no SentencePiece in a sanitizer build";
  const std::string path =
      PTUNE_SOURCE_DIR "/tests/fuzz/regressions/sentencepiece/empty-piece.model";
  const std::string msg = ptune::test::error_of([&] { ptune::Tokenizer::load(path); });
  EXPECT_EQ(msg.rfind("tokenizer '" + path + "': not a valid SentencePiece model (", 0), 0u) << msg;
}
