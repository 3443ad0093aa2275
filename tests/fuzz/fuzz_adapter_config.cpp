// A PEFT adapter directory: adapter_config.json (the input up to a line "--keys--") and the
// key layout of adapter_model.safetensors (the lines after it, each a key of a small tensor:
// lora_A (2, 8), lora_B (8, 2), others (8)). Read as ptune reads LoRA adapters and checked
// against a base model's shapes.
#include <filesystem>
#include <sstream>

#include "fuzz_util.h"
#include "ptune/core/error.h"
#include "ptune/io/adapter_config.h"
#include "ptune/peft/lora_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string dir = [] {
    std::string d = ptune::fuzz::scratch_dir() + "/adapter";
    std::filesystem::create_directories(d);
    return d;
  }();
  const auto [config, keys] = ptune::fuzz::split(data, size, "\n--keys--\n");
  ptune::fuzz::write_file(dir + "/adapter_config.json", config);
  ptune::NamedTensors tensors;
  std::istringstream lines(keys);
  for (std::string key; std::getline(lines, key) && tensors.size() < 64;) {
    bool dup = false;
    for (const auto& [k, _] : tensors) dup |= k == key;
    if (key.empty() || dup) continue;
    const bool a = key.find("lora_A") != std::string::npos;
    const bool b = key.find("lora_B") != std::string::npos;
    tensors.emplace_back(key, a ? torch::ones({2, 8}) : b ? torch::ones({8, 2}) : torch::ones({8}));
  }
  PTUNE_FUZZ_BODY({
    ptune::save_safetensors(dir + "/adapter_model.safetensors", tensors);
    (void)ptune::read_adapter_config(dir);
    const ptune::LoraAdapter a = ptune::read_lora_adapter(dir);
    std::map<std::string, std::vector<int64_t>> base;
    for (int l = 0; l < 2; ++l)
      for (const char* p : {"q_proj", "k_proj", "v_proj", "o_proj"})
        base["model.layers." + std::to_string(l) + ".self_attn." + p + ".weight"] = {8, 8};
    ptune::check_lora_adapter(a, base, "the fuzz base");
  });
}
