// SentencePiece model bytes, loaded by ptune's SentencePiece module (its own code with
// libsentencepiece, without LibTorch), then a fixed sample encoded and decoded.
#include <unistd.h>

#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "ptune/data/sentencepiece_module.h"

extern "C" ptune::spm::Model* ptune_spm_load(const char* path, std::string* error);

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = "/tmp/ptune-fuzz-spm-" + std::to_string(getpid()) + ".model";
  {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  std::string error;
  std::unique_ptr<ptune::spm::Model> m(ptune_spm_load(path.c_str(), &error));
  if (!m) return 0;  // SentencePiece's message: the expected end of bad bytes
  std::vector<int> ids;
  if (!m->encode("Hello, world! \xc3\xa9t\xc3\xa9 \xe4\xb8\xad\xe6\x96\x87 12345", &ids).empty())
    return 0;
  std::string text;
  (void)m->decode(ids, &text);
  (void)m->piece_size();
  return 0;
}
