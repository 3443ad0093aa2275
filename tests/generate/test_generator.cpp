// Unit tests of generation: KV-cache decoding equals recomputing the whole sequence,
// sampling (greedy, top-k, top-p, seeded), EOS/budget handling, and speculative decoding
// with (untrained) heads of both styles reproducing plain greedy output.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "ptune/generate/generator.h"
#include "ptune/generate/sampling.h"
#include "ptune/generate/speculative.h"
#include "ptune/mtp/heads.h"

#include "tiny_run.h"

namespace ptune {
namespace {

ModelConfig tiny_config() {
  return test::tiny_model_config(48);
}

TEST(Generate, KvCacheLogitsEqualFullRecompute) {
  torch::manual_seed(0);
  Transformer model(tiny_config());
  model->eval();
  torch::NoGradGuard no_grad;
  auto ids = torch::randint(48, {1, 12}, torch::kLong);
  auto full = model->forward(ids);  // (1, 12, V)
  KVCache cache;
  ForwardArgs args;
  args.cache = &cache;
  auto first = model->forward(ids.narrow(1, 0, 5), args);  // prefill 5
  EXPECT_TRUE(torch::allclose(first, full.narrow(1, 0, 5), 1e-5, 1e-5));
  for (int64_t t = 5; t < 12; ++t) {
    args.pos_offset = cache.length();
    auto step = model->forward(ids.narrow(1, t, 1), args);  // (1, 1, V)
    EXPECT_TRUE(torch::allclose(step, full.narrow(1, t, 1), 1e-5, 1e-5)) << "position " << t;
  }
  EXPECT_EQ(cache.length(), 12);
  // Rolling back and re-feeding gives the same logits again.
  cache.truncate(9);
  args.pos_offset = 9;
  auto again = model->forward(ids.narrow(1, 9, 3), args);
  EXPECT_TRUE(torch::allclose(again, full.narrow(1, 9, 3), 1e-5, 1e-5));
}

TEST(Generate, GreedyGenerationMatchesArgmaxOfFullForward) {
  torch::manual_seed(1);
  Transformer model(tiny_config());
  GenerateOptions o;
  o.max_new_tokens = 10;
  std::vector<int64_t> prompt{1, 5, 9};
  GenerateResult r = generate(model, prompt, o);
  ASSERT_EQ(r.tokens.size(), 10u);
  EXPECT_EQ(r.stats.forward_passes, 10);
  torch::NoGradGuard no_grad;
  std::vector<int64_t> seq(prompt);
  for (int64_t t : r.tokens) {
    auto logits = model->forward(torch::tensor(seq, torch::kLong).unsqueeze(0));
    EXPECT_EQ(logits[0][-1].argmax().item<int64_t>(), t);
    seq.push_back(t);
  }
}

TEST(Generate, StopsAtEosAndBudget) {
  GenerateOptions o;
  o.max_new_tokens = 3;
  o.stop_ids = {2};
  GenerateResult r;
  EXPECT_TRUE(commit_token(r, 7, o));
  EXPECT_FALSE(commit_token(r, 2, o));
  EXPECT_TRUE(r.stopped_at_eos);
  EXPECT_EQ(r.tokens, (std::vector<int64_t>{7}));
  GenerateResult r2;
  EXPECT_TRUE(commit_token(r2, 4, o));
  EXPECT_TRUE(commit_token(r2, 4, o));
  EXPECT_FALSE(commit_token(r2, 4, o));  // third token spends the budget
  EXPECT_EQ(r2.tokens.size(), 3u);
  EXPECT_FALSE(r2.stopped_at_eos);
}

TEST(Sampling, TopKTopPAndSeeds) {
  auto logits = torch::tensor({0.0f, 3.0f, 1.0f, 2.0f, -1.0f});
  SamplingOptions greedy;
  auto gen = make_generator(0);
  EXPECT_EQ(sample_token(logits, greedy, gen), 1);

  SamplingOptions k2;
  k2.temperature = 1.0;
  k2.top_k = 2;
  auto p = sampling_probs(logits, k2);
  EXPECT_EQ(p.gt(0).sum().item<int64_t>(), 2);
  EXPECT_GT(p[1].item<float>(), 0);
  EXPECT_GT(p[3].item<float>(), 0);
  EXPECT_NEAR(p.sum().item<float>(), 1.0, 1e-6);

  // softmax of [0,3,1,2,-1]: p(1) ~ 0.64, p(3) ~ 0.24: top-p 0.7 keeps both, 0.5 keeps one.
  SamplingOptions tp;
  tp.temperature = 1.0;
  tp.top_p = 0.7;
  EXPECT_EQ(sampling_probs(logits, tp).gt(0).sum().item<int64_t>(), 2);
  tp.top_p = 0.5;
  auto one = sampling_probs(logits, tp);
  EXPECT_EQ(one.gt(0).sum().item<int64_t>(), 1);
  EXPECT_FLOAT_EQ(one[1].item<float>(), 1.0f);

  SamplingOptions t1;
  t1.temperature = 1.0;
  auto draw = [&](uint64_t seed) {
    auto g = make_generator(seed);
    std::vector<int64_t> out;
    for (int i = 0; i < 20; ++i) out.push_back(sample_token(logits, t1, g));
    return out;
  };
  EXPECT_EQ(draw(7), draw(7));
  EXPECT_NE(draw(7), draw(8));
}

// Greedy speculative decoding equals plain greedy for any heads (here untrained, so most
// drafts are rejected and the cache is rolled back often).
TEST(Speculative, GreedyOutputEqualsPlainGreedyWithAnyHeads) {
  for (const MtpStyle style : {MtpStyle::kParallel, MtpStyle::kSequential}) {
    torch::manual_seed(2);
    Transformer model(tiny_config());
    MtpConfig m;
    m.style = style;
    m.heads = 3;
    auto heads = make_mtp_heads(m, model);
    GenerateOptions o;
    o.max_new_tokens = 24;
    for (std::vector<int64_t> prompt :
         {std::vector<int64_t>{1}, std::vector<int64_t>{1, 7, 7, 30, 4}}) {
      GenerateResult plain = generate(model, prompt, o);
      GenerateResult spec = generate_speculative(model, *heads, prompt, o);
      EXPECT_EQ(spec.tokens, plain.tokens) << name_of(style);
      EXPECT_EQ(spec.stats.drafted, 3 * spec.stats.rounds);
      EXPECT_EQ(spec.stats.forward_passes, spec.stats.rounds + 1);
    }
  }
}

}  // namespace
}  // namespace ptune
