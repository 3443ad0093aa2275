// What train, eval and generate share when they start from a recipe: the tokenizer
// (trained first when missing and the recipe says from what) and the model config.
#pragma once

#include "ptune/config/recipe.h"
#include "ptune/data/tokenizer.h"

namespace ptune {

// Loads tokenizer.path; if it does not exist and tokenizer.train_from is set, trains it first.
Tokenizer prepare_tokenizer(const TokenizerConfig& t);

// From model.path's config.json, or model.arch (vocab_size 0 = the tokenizer's).
ModelConfig resolve_model_config(const ModelSource& m, const Tokenizer& tok);

}  // namespace ptune
