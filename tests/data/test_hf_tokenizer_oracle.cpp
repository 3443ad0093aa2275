// ptune's tokenizer.json engine against HF tokenizers itself (npm, the pinned version of
// tests/tokenizer_oracle): four tokenizers shaped like Llama-3, GPT-2/SmolLM2, Qwen2 (NFC) and
// Llama-2 (SentencePiece-derived, byte fallback), ~6 MB of real text each (WordNet, licences,
// MIME names in ~60 languages, X11 Compose, C, Python, Perl) plus edge cases: every id equal,
// and decode(encode(x)) equal to the library's decode.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "ptune/data/hf_tokenizer.h"
#include "test_paths.h"

namespace ptune {
namespace {

// One record of NAME.ids (format: tests/tokenizer_oracle/make_fixtures.js).
struct Record {
  bool add_special = false;
  std::string text;
  std::vector<int32_t> ids;
  std::string decoded;  // the library's decode(ids)
};

std::vector<Record> read_records(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  const std::string bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  size_t pos = 8;
  EXPECT_EQ(bytes.substr(0, 8), "PTKIDS1\n") << path;
  auto u32 = [&] {
    uint32_t v = 0;
    if (pos + 4 > bytes.size()) throw std::runtime_error(path + ": truncated");
    std::memcpy(&v, bytes.data() + pos, 4);  // little endian, as x86 is
    pos += 4;
    return v;
  };
  auto str = [&] {
    const uint32_t n = u32();
    if (pos + n > bytes.size()) throw std::runtime_error(path + ": truncated");
    std::string s = bytes.substr(pos, n);
    pos += n;
    return s;
  };
  std::vector<Record> out;
  while (pos < bytes.size()) {
    Record r;
    const uint32_t flags = u32();
    r.add_special = flags & 1;
    r.text = str();
    r.ids.resize(u32());
    for (auto& id : r.ids) id = static_cast<int32_t>(u32());
    r.decoded = flags & 2 ? str() : r.text;
    out.push_back(std::move(r));
  }
  return out;
}

class HfOracle : public ::testing::TestWithParam<std::string> {};

TEST_P(HfOracle, IdsAndDecodeEqualHfTokenizers) {
  const std::string dir = PTUNE_TOKENIZER_FIXTURES, name = GetParam();
  ASSERT_TRUE(std::filesystem::exists(dir + "/" + name + ".ids"))
      << "no reference ids in " << dir << ": run scripts/tokenizer_fixtures.sh " << dir;
  const HfTokenizer tok = HfTokenizer::load(dir + "/" + name + ".tokenizer.json");
  const auto records = read_records(dir + "/" + name + ".ids");
  ASSERT_GT(records.size(), 2900u);
  size_t bytes = 0, wrong_ids = 0, wrong_text = 0;
  for (size_t i = 0; i < records.size(); ++i) {
    const Record& r = records[i];
    bytes += r.text.size();
    const auto ids = r.add_special ? tok.encode_with_specials(r.text) : tok.encode(r.text);
    if (ids != r.ids && ++wrong_ids <= 5) {
      size_t at = 0;
      while (at < ids.size() && at < r.ids.size() && ids[at] == r.ids[at]) ++at;
      ADD_FAILURE() << name << " record " << i << ": ids differ from token " << at << " ("
                    << ids.size() << " vs HF's " << r.ids.size()
                    << " tokens); text: " << r.text.substr(0, 200);
    }
    if (tok.decode(r.ids) != r.decoded && ++wrong_text <= 5)
      ADD_FAILURE() << name << " record " << i
                    << ": decode differs from HF's; text: " << r.text.substr(0, 200);
  }
  EXPECT_EQ(wrong_ids, 0u) << "of " << records.size() << " records";
  EXPECT_EQ(wrong_text, 0u) << "of " << records.size() << " records";
  EXPECT_GT(bytes, 5u * 1024 * 1024);
}

INSTANTIATE_TEST_SUITE_P(Families, HfOracle, ::testing::Values("llama3", "gpt2", "qwen2", "spm"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace ptune
