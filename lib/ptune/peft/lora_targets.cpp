// PEFT's LoRA target rule (see lora_targets.h).
#include "ptune/peft/lora_targets.h"

#include <algorithm>
#include <regex>

#include "ptune/core/text.h"

namespace ptune {

std::string module_name(const std::string& path) {
  const auto dot = path.rfind('.');
  return dot == std::string::npos ? path : path.substr(dot + 1);
}

int64_t layer_index(const std::string& path) {
  static const std::regex re(R"(^model\.layers\.(\d+)\.)");
  std::smatch m;
  return std::regex_search(path, m, re) ? std::stoll(m[1].str()) : -1;
}

bool LoraTargets::matches(const std::string& path) const {
  const std::string name = module_name(path);
  bool hit = !regex.empty() && (regex == "all-linear" ? name != "lm_head"
                                                      : std::regex_match(path, std::regex(regex)));
  for (const auto& t : names)
    hit |= t == "all-linear" ? name != "lm_head" : path == t || ends_with(path, "." + t);
  if (!hit || layers.empty()) return hit;
  return std::find(layers.begin(), layers.end(), layer_index(path)) != layers.end();
}

}  // namespace ptune
