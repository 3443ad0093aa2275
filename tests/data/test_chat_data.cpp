// Chat JSONL as training examples on a ChatML tokenizer (data/wordnet-bpe): the template is
// recognised from tokenizer_config.json, turns are tokenized as the whole rendered text would
// be, and only assistant turns (content and <|im_end|>) are targets unless data.train_on says
// otherwise; bad records name their line.
#include <gtest/gtest.h>

#include <algorithm>

#include "error_helpers.h"
#include "ptune/data/chat_data.h"
#include "ptune/data/dataset.h"
#include "ptune/data/tokenizer.h"
#include "test_paths.h"
#include "test_util.h"
#include "tiny_run.h"

namespace ptune {
namespace {

const Tokenizer& bpe() {
  static const Tokenizer t = Tokenizer::load(std::string(PTUNE_SOURCE_DIR) + "/data/wordnet-bpe");
  return t;
}

Dataset load(const std::string& jsonl, TrainOn on = TrainOn::kAssistant,
             ChatTemplate t = ChatTemplate::kAuto) {
  static test::TempDir dir;
  test::write_text(dir / "chat.jsonl", jsonl);
  DataSource src;
  src.path = dir / "chat.jsonl";
  src.format = DataFormat::kChat;
  src.chat.chat_template = t;
  src.chat.train_on = on;
  return Dataset::load(src, &bpe(), 256, true, "data.train");
}

// The decoded targets of an example, in order.
std::string targets_text(const Example& e) {
  std::vector<int32_t> ids;
  for (int32_t t : e.targets)
    if (t != kIgnoreIndex) ids.push_back(t);
  return bpe().decode(ids);
}

const char* kTwoTurns =
    R"({"messages": [{"role": "system", "content": "Define words."},
                     {"role": "user", "content": "What does lantern mean?"},
                     {"role": "assistant", "content": "light in a transparent case"},
                     {"role": "user", "content": "And lamp?"},
                     {"role": "assistant", "content": "an artificial source of light"}]})";

TEST(ChatData, AssistantTurnsAreTheTargets) {
  ChatSetup s = chat_setup(bpe(), ChatTemplate::kAuto, "data.train");
  EXPECT_EQ(s.family, ChatTemplate::kChatml);
  EXPECT_EQ(s.stop_ids, (std::vector<int64_t>{0, 2}));
  std::string line = kTwoTurns;
  line.erase(std::remove(line.begin(), line.end(), '\n'), line.end());
  Dataset d = load(line + "\n");
  ASSERT_EQ(d.size(), 1u);
  const Example& e = d[0];
  // Turn by turn gives the ids of the whole rendered text (byte-level BPE, cuts at specials).
  const std::string text =
      "<|im_start|>system\nDefine words.<|im_end|>\n<|im_start|>user\nWhat does lantern "
      "mean?<|im_end|>\n<|im_start|>assistant\nlight in a transparent case<|im_end|>\n"
      "<|im_start|>user\nAnd lamp?<|im_end|>\n<|im_start|>assistant\nan artificial source of "
      "light<|im_end|>\n";
  const Example all = load(line + "\n", TrainOn::kAll)[0];  // every token a target
  std::vector<int32_t> ids = all.input_ids;
  ids.push_back(all.targets.back());
  EXPECT_EQ(ids, bpe().encode(text));
  EXPECT_EQ(e.input_ids, all.input_ids);
  EXPECT_EQ(targets_text(all), text.substr(std::string("<|im_start|>").size()));
  EXPECT_EQ(targets_text(e),
            "light in a transparent case<|im_end|>an artificial source of light<|im_end|>");
  EXPECT_EQ(targets_text(load(line + "\n", TrainOn::kLast)[0]),
            "an artificial source of light<|im_end|>");
}

TEST(ChatData, ShareGptEqualsOpenAi) {
  Dataset a = load(
      R"({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]})"
      "\n");
  Dataset b = load(
      R"({"conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "hello"}]})"
      "\n");
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].input_ids, b[0].input_ids);
  EXPECT_EQ(a[0].targets, b[0].targets);
}

TEST(ChatData, BadRecordsNameTheirLine) {
  const std::string ok =
      R"({"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": "y"}]})";
  auto err = [&](const std::string& bad) {
    return test::error_of([&] { load(ok + "\n" + bad + "\n"); }, ErrorKind::Usage);
  };
  EXPECT_CONTAINS(err(R"({"text": "x"})"),
                  "chat.jsonl:2: field 'messages' (OpenAI) or 'conversations' (ShareGPT) missing");
  EXPECT_CONTAINS(err(R"({"messages": [{"role": "user"}]})"),
                  "chat.jsonl:2: messages[0] must be an object with string fields 'role' and "
                  "'content'");
  EXPECT_CONTAINS(err(R"({"messages": [{"role": "tool", "content": "x"}]})"), "chat.jsonl:2: ");
  EXPECT_CONTAINS(err(R"({"messages": [{"role": "tool", "content": "x"}]})"), "'tool'");
}

TEST(ChatData, AutoWithoutATemplateSaysWhatToChoose) {
  if (!sentencepiece_available()) GTEST_SKIP() << "no SentencePiece in a sanitizer build";
  Tokenizer spm = Tokenizer::load(test::tiny_assets() + "/tok.model");
  EXPECT_CONTAINS(
      test::error_of([&] { chat_setup(spm, ChatTemplate::kAuto, "data.train"); }, ErrorKind::Usage),
      "has no chat_template; set data.chat_template to one of chatml, llama3, "
      "llama3.0, llama2, zephyr, mistral");
  // A SentencePiece tokenizer with an explicit family: "<s>"/"</s>" become their ids.
  ChatSetup s = chat_setup(spm, ChatTemplate::kLlama2, "data.train");
  ChatIds c = tokenize_chat(spm, s, {{"user", "hi"}, {"assistant", "hello"}}, false);
  EXPECT_EQ(c.ids.front(), spm.bos_id());
  EXPECT_EQ(c.ids.back(), spm.eos_id());
  EXPECT_GE(c.turn.back(), 0);
}

}  // namespace
}  // namespace ptune
