// Autoregressive generation with a KV cache (model/kv_cache.h):
// one prefill pass over the prompt, then one forward pass of one token per new token;
// stops at EOS or max_new_tokens. Speculative decoding with MTP heads is speculative.h.
#pragma once

#include <cstdint>
#include <vector>

#include "ptune/generate/sampling.h"
#include "ptune/model/transformer.h"

namespace ptune {

struct GenerateOptions {
  int64_t max_new_tokens = 64;
  SamplingOptions sampling;
  // Tokens that end generation (not included in the output): EOS, generation_config.json's
  // eos ids (Llama-3 has several), a chat template's end of turn. Empty = none.
  std::vector<int64_t> stop_ids;
};

struct GenerateStats {
  int64_t prompt_tokens = 0;
  int64_t new_tokens = 0;
  int64_t forward_passes = 0;  // base model passes, prefill included
  double seconds = 0.0;
  double tokens_per_s = 0.0;  // new_tokens / seconds (prefill included in seconds)
  // Speculative decoding only: drafted / accepted draft tokens over all verify rounds.
  int64_t rounds = 0, drafted = 0, accepted = 0;
  double acceptance_rate = 0.0;       // accepted / drafted
  double mean_accepted_length = 0.0;  // tokens committed per verify pass (accepted + 1)
};

struct GenerateResult {
  std::vector<int64_t> tokens;  // new tokens, EOS excluded
  bool stopped_at_eos = false;
  GenerateStats stats;
};

// Batch size 1. A model with a key/value prefix (prefix tuning) seeds the generator's cache.
GenerateResult generate(Transformer& model, const std::vector<int64_t>& prompt,
                        const GenerateOptions& o);

// Appends `t` to `r.tokens` unless it is EOS or the budget is spent; false = stop.
bool commit_token(GenerateResult& r, int64_t t, const GenerateOptions& o);

// Fills tokens_per_s / acceptance figures from the counts and seconds.
void finish_stats(GenerateStats& s);

// Adds the counts and seconds of `s` to `total` (rates: finish_stats afterwards).
void add_stats(GenerateStats& total, const GenerateStats& s);

}  // namespace ptune
