// Speculative decoding with MTP drafts and one-pass verification (see speculative.h).
#include "ptune/generate/speculative.h"

#include <torch/torch.h>

#include <chrono>

#include "ptune/core/error.h"

namespace ptune {

GenerateResult generate_speculative(Transformer& model, MtpHeadsImpl& heads,
                                    const std::vector<int64_t>& prompt, const GenerateOptions& o) {
  if (prompt.empty()) usage_error("generate: the prompt has no tokens (add BOS or some text)");
  torch::NoGradGuard no_grad;
  model->eval();
  heads.eval();
  const auto t0 = std::chrono::steady_clock::now();
  at::Generator gen = make_generator(o.sampling.seed);
  GenerateResult r;
  r.stats.prompt_tokens = static_cast<int64_t>(prompt.size());
  if (o.max_new_tokens <= 0) return r;
  auto drafter = heads.drafter(model);
  KVCache cache;                   // the model seeds it with its key/value prefix, if it has one
  const ForwardArgs args{&cache};  // positions follow the cache

  // Prefill: hidden states of the prompt and the base model's first token.
  auto hidden = model->hidden(torch::tensor(prompt, torch::kLong).unsqueeze(0), args);  // (1, P, d)
  ++r.stats.forward_passes;
  int64_t next =
      sample_token(model->logits(hidden.select(1, hidden.size(1) - 1)).squeeze(0), o.sampling, gen);
  std::vector<int64_t> tokens(prompt);
  tokens.push_back(next);
  bool go = commit_token(r, next, o);
  while (go) {
    // Draft K tokens following `next`, then verify [next, d_1..d_K] in one pass.
    std::vector<int64_t> drafts = drafter->draft(tokens, hidden);
    std::vector<int64_t> block{next};
    block.insert(block.end(), drafts.begin(), drafts.end());
    const int64_t L0 = cache.length();
    auto h = model->hidden(torch::tensor(block, torch::kLong).unsqueeze(0), args);  // (1, K+1, d)
    auto logits = model->logits(h).squeeze(0);                                      // (K+1, V)
    ++r.stats.forward_passes;
    // Position j's pick continues the sequence [.., next, d_1..d_j]; d_(j+1) is accepted
    // when it equals that pick.
    int64_t m = 0;
    const int64_t K = static_cast<int64_t>(drafts.size());
    std::vector<int64_t> greedy;  // at temperature 0: every position's argmax in one go
    if (o.sampling.temperature <= 0) {
      auto a = logits.argmax(-1).contiguous();  // (K+1)
      greedy.assign(a.data_ptr<int64_t>(), a.data_ptr<int64_t>() + a.numel());
    }
    auto pick_at = [&](int64_t j) {
      return greedy.empty() ? sample_token(logits[j], o.sampling, gen) : greedy[j];
    };
    int64_t pick = pick_at(0);
    while (m < K && pick == drafts[m]) {
      ++m;
      pick = pick_at(m);
    }
    ++r.stats.rounds;
    r.stats.drafted += K;
    r.stats.accepted += m;
    cache.truncate(L0 + 1 + m);      // keep next, d_1..d_m; `pick` is not in the cache yet
    hidden = h.narrow(1, 0, m + 1);  // (1, m+1, d): the newly committed positions
    for (int64_t j = 0; j < m && go; ++j) {
      tokens.push_back(drafts[j]);
      go = commit_token(r, drafts[j], o);
    }
    if (!go) break;
    tokens.push_back(pick);
    next = pick;
    go = commit_token(r, pick, o);
  }
  r.stats.new_tokens = static_cast<int64_t>(r.tokens.size());
  r.stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  finish_stats(r.stats);
  return r;
}

}  // namespace ptune
