// Range, enum and cross-field checks of a recipe read from YAML: every problem goes to
// `problems` under its YAML key path. Internal to the recipe loader.
#pragma once

#include "ptune/config/recipe.h"
#include "ptune/config/recipe_problems.h"

namespace ptune {

void check_recipe(const Recipe& r, Problems& problems);

}  // namespace ptune
