// A Hugging Face config.json (LLaMA, Mistral, Qwen2; rope_scaling in the llama3 and legacy
// forms), read as a checkpoint's config.
#include "fuzz_util.h"
#include "ptune/core/error.h"
#include "ptune/io/checkpoint.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& dir = ptune::fuzz::scratch_dir();
  ptune::fuzz::write_file(dir + "/config.json",
                          std::string(reinterpret_cast<const char*>(data), size));
  PTUNE_FUZZ_BODY({ (void)ptune::read_checkpoint_config(dir); });
}
