// Self-speculative decoding with MTP heads (Medusa / Gloeckle et al. 2024 / DeepSeek-V3):
// the heads draft K tokens from the base model's last hidden state; the base model verifies
// [its own next token, drafts] in ONE forward pass with the KV cache; drafts are accepted
// while they equal the token the base model picks at that position (argmax at temperature
// 0, a sample from the base distribution otherwise), and the base model's pick at the first
// disagreement is kept too. The cache is rolled back (KVCache::truncate) past the rejected
// drafts. Each accepted token is exactly what plain decoding would pick, so at temperature 0
// the output equals plain greedy decoding token for token, and for temperature > 0 every
// token is drawn from the base distribution (the random stream differs from plain sampling).
#pragma once

#include "ptune/generate/generator.h"
#include "ptune/mtp/heads.h"

namespace ptune {

GenerateResult generate_speculative(Transformer& model, MtpHeadsImpl& heads,
                                    const std::vector<int64_t>& prompt, const GenerateOptions& o);

}  // namespace ptune
