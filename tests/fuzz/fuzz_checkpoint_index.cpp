// A sharded checkpoint's model.safetensors.index.json (weight_map: tensor -> shard file) over
// two valid shards in the same directory: opened as a checkpoint, every key read.
#include <filesystem>

#include "fuzz_util.h"
#include "ptune/core/error.h"
#include "ptune/io/checkpoint.h"

namespace {

const std::string& dir() {
  static const std::string d = [] {
    std::string d = ptune::fuzz::scratch_dir() + "/sharded";
    std::filesystem::create_directories(d);
    ptune::save_safetensors(d + "/model-00001-of-00002.safetensors",
                            {{"model.embed_tokens.weight", torch::ones({4, 2})}});
    ptune::save_safetensors(
        d + "/model-00002-of-00002.safetensors",
        {{"lm_head.weight", torch::ones({4, 2})}, {"model.norm.weight", torch::ones({2})}});
    return d;
  }();
  return d;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ptune::fuzz::write_file(dir() + "/model.safetensors.index.json",
                          std::string(reinterpret_cast<const char*>(data), size));
  PTUNE_FUZZ_BODY({
    auto w = ptune::CheckpointWeights::open(dir());
    for (const auto& k : w.keys()) (void)w.get(k).sum().item<double>();
  });
}
