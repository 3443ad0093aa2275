// A Hugging Face tokenizer.json (models, normalizers, pre-tokenizers, post-processor,
// decoders, added tokens): loaded, then a fixed mixed-script sample encoded and decoded.
#include "fuzz_util.h"
#include "ptune/core/error.h"
#include "ptune/data/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = ptune::fuzz::scratch_dir() + "/tokenizer.json";
  ptune::fuzz::write_file(path, std::string(reinterpret_cast<const char*>(data), size));
  PTUNE_FUZZ_BODY({
    const ptune::Tokenizer tok = ptune::Tokenizer::load(path);
    const std::vector<int32_t> ids = tok.encode(
        "Hello, world! 12345 \xc3\xa9t\xc3\xa9 \xe4\xb8\xad\xe6\x96\x87 <|im_end|>\n\t  x");
    (void)tok.decode(ids);
  });
}
