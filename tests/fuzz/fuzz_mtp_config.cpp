// mtp_config.json, ptune's file beside MTP heads.
#include "fuzz_util.h"
#include "ptune/core/error.h"
#include "ptune/io/mtp_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = ptune::fuzz::scratch_dir() + "/mtp_config.json";
  ptune::fuzz::write_file(path, std::string(reinterpret_cast<const char*>(data), size));
  PTUNE_FUZZ_BODY({ (void)ptune::read_mtp_config(path); });
}
