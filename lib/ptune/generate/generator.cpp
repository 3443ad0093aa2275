// Plain KV-cache decoding (see generator.h).
#include "ptune/generate/generator.h"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>

#include "ptune/core/error.h"

namespace ptune {

bool commit_token(GenerateResult& r, int64_t t, const GenerateOptions& o) {
  if (static_cast<int64_t>(r.tokens.size()) >= o.max_new_tokens) return false;
  if (std::find(o.stop_ids.begin(), o.stop_ids.end(), t) != o.stop_ids.end()) {
    r.stopped_at_eos = true;
    return false;
  }
  r.tokens.push_back(t);
  return static_cast<int64_t>(r.tokens.size()) < o.max_new_tokens;
}

void finish_stats(GenerateStats& s) {
  s.tokens_per_s = s.seconds > 0 ? s.new_tokens / s.seconds : 0.0;
  s.acceptance_rate = s.drafted > 0 ? static_cast<double>(s.accepted) / s.drafted : 0.0;
  s.mean_accepted_length =
      s.rounds > 0 ? static_cast<double>(s.accepted + s.rounds) / s.rounds : 0.0;
}

void add_stats(GenerateStats& total, const GenerateStats& s) {
  total.prompt_tokens += s.prompt_tokens;
  total.new_tokens += s.new_tokens;
  total.forward_passes += s.forward_passes;
  total.seconds += s.seconds;
  total.rounds += s.rounds;
  total.drafted += s.drafted;
  total.accepted += s.accepted;
}

GenerateResult generate(Transformer& model, const std::vector<int64_t>& prompt,
                        const GenerateOptions& o) {
  if (prompt.empty()) usage_error("generate: the prompt has no tokens (add BOS or some text)");
  torch::NoGradGuard no_grad;
  model->eval();
  const auto t0 = std::chrono::steady_clock::now();
  at::Generator gen = make_generator(o.sampling.seed);
  GenerateResult r;
  r.stats.prompt_tokens = static_cast<int64_t>(prompt.size());
  KVCache cache;  // the model seeds it with its key/value prefix, if it has one
  auto ids = torch::tensor(prompt, torch::kLong).unsqueeze(0);  // (1, P)
  while (o.max_new_tokens > 0) {
    auto h = model->hidden(ids, {&cache});                               // (1, T, d)
    auto logits = model->logits(h.select(1, h.size(1) - 1)).squeeze(0);  // (V)
    ++r.stats.forward_passes;
    const int64_t t = sample_token(logits, o.sampling, gen);
    if (!commit_token(r, t, o)) break;
    ids = torch::tensor({t}, torch::kLong).unsqueeze(0);  // (1, 1)
  }
  r.stats.new_tokens = static_cast<int64_t>(r.tokens.size());
  r.stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  finish_stats(r.stats);
  return r;
}

}  // namespace ptune
