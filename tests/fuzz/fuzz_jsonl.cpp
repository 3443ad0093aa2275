// Training data records: the first byte picks the format (text, instruct, tokens, chat), the
// rest is the file, tokenized with data/wordnet-bpe (a byte-level BPE with a ChatML template)
// into windows of 64 tokens, packed by documents.
#include "fuzz_util.h"
#include "ptune/core/error.h"
#include "ptune/data/dataset.h"
#include "ptune/data/tokenizer.h"

#ifndef PTUNE_SOURCE_DIR
#error "PTUNE_SOURCE_DIR must name the source tree (the tokenizer comes from data/)"
#endif

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const ptune::Tokenizer tok = ptune::Tokenizer::load(PTUNE_SOURCE_DIR "/data/wordnet-bpe");
  if (size == 0) return 0;
  constexpr ptune::DataFormat kFormats[] = {ptune::DataFormat::kText, ptune::DataFormat::kInstruct,
                                            ptune::DataFormat::kTokens, ptune::DataFormat::kChat};
  const std::string path = ptune::fuzz::scratch_dir() + "/data.jsonl";
  ptune::fuzz::write_file(path, std::string(reinterpret_cast<const char*>(data) + 1, size - 1));
  ptune::DataSource src;
  src.path = path;
  src.format = kFormats[data[0] % 4];
  src.chat.chat_template = ptune::ChatTemplate::kChatml;
  PTUNE_FUZZ_BODY({
    const ptune::Dataset d = ptune::Dataset::load(src, &tok, 64, true, "data.train");
    (void)d.total_targets();
  });
}
