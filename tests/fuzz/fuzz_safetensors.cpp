// A .safetensors file: the header (JSON, dtypes, shapes, offsets) and the layout of its data.
// Every tensor it declares is mapped and read.
#include "fuzz_util.h"
#include "ptune/core/error.h"
#include "ptune/io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = ptune::fuzz::scratch_dir() + "/model.safetensors";
  ptune::fuzz::write_file(path, std::string(reinterpret_cast<const char*>(data), size));
  PTUNE_FUZZ_BODY({
    auto f = ptune::SafetensorsFile::open(path);
    for (const auto& info : f->tensors()) {
      torch::Tensor t = f->tensor(info.name);
      if (t.numel() > 0) (void)t.flatten()[t.numel() - 1].item<double>();
    }
  });
}
