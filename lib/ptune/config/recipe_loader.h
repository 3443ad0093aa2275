// Loads a recipe from YAML with strict validation and `--set a.b=c` overrides, and dumps a
// resolved recipe back to YAML (--dry-run, and saved beside every run as recipe.yaml).
#pragma once

#include <string>
#include <vector>

#include "ptune/config/recipe.h"

namespace ptune {

// Parses `path` ("-" = stdin), applies each override "key.path=value" (value parsed as
// YAML), validates everything, and throws one Usage error listing every problem under a
// "recipe <file> has N problems:" header, one per indented line:
// "method.lora.r: must be > 0, got 0 (recipe.yaml:14)". A YAML syntax error throws
// "recipe.yaml:7: YAML syntax error: ..."; an unreadable file "recipe: cannot read '...': ...".
// Override problems name the override: "train.lr: unknown key (--set train.lr=3e-4); did you mean
// optim.lr?".
Recipe load_recipe(const std::string& path, const std::vector<std::string>& overrides = {});

// Same, from YAML text (tests). `source` names it in messages.
Recipe load_recipe_text(const std::string& yaml, const std::string& source,
                        const std::vector<std::string>& overrides = {});

// The resolved recipe as YAML, every key present, in reference order (model.arch is `~`
// when the recipe has none); load_recipe_text(recipe_to_yaml(r)) gives r back.
std::string recipe_to_yaml(const Recipe& r);

}  // namespace ptune
