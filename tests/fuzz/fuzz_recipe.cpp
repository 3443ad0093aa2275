// A recipe: YAML text up to a line "--set--", then one --set override (key.path=value) per
// line, loaded and validated as `ptune train --config` does, and written back as YAML.
#include <sstream>

#include "fuzz_util.h"
#include "ptune/config/recipe_loader.h"
#include "ptune/core/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  (void)ptune::fuzz::scratch_dir();  // logging off
  const auto [yaml, rest] = ptune::fuzz::split(data, size, "\n--set--\n");
  std::vector<std::string> sets;
  std::istringstream lines(rest);
  for (std::string s; std::getline(lines, s) && sets.size() < 16;) sets.push_back(s);
  PTUNE_FUZZ_BODY({
    const ptune::Recipe r = ptune::load_recipe_text(yaml, "fuzz.yaml", sets);
    (void)ptune::recipe_to_yaml(r);
  });
}
