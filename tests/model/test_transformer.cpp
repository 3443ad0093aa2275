// Unit tests of the LLaMA model: RoPE, causality, GQA, KV cache, prefixes, HF names, loss,
// and that a tiny model can overfit one batch.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <set>
#include <string>
#include <vector>

#include "ptune/core/error.h"
#include "ptune/model/attention.h"
#include "ptune/model/loss.h"
#include "ptune/model/projection.h"
#include "ptune/model/rope.h"
#include "ptune/model/transformer.h"
#include "ptune/peft/lora.h"

#include "tiny_run.h"

namespace ptune {
namespace {

ModelConfig tiny_config(int64_t n_kv_heads = 2, bool tied = false) {
  ModelConfig c = test::tiny_model_config(64);
  c.num_key_value_heads = n_kv_heads;
  c.max_position_embeddings = 32;
  c.tie_word_embeddings = tied;
  return c;
}

void expect_close(const torch::Tensor& a, const torch::Tensor& b, double tol) {
  ASSERT_EQ(a.sizes(), b.sizes());
  EXPECT_LE((a - b).abs().max().item<double>(), tol);
}

TEST(Rope, ScoreDependsOnlyOnRelativePosition) {
  ModelConfig c = tiny_config();
  const auto tables = rope_tables(c, 64);  // (64, 8) each
  const torch::Tensor cos = tables.first, sin = tables.second;  // lambdas capture variables
  ASSERT_EQ(cos.sizes(), (std::vector<int64_t>{64, 8}));
  torch::manual_seed(0);
  auto q = torch::randn({1, 1, 1, 8}), k = torch::randn({1, 1, 1, 8});
  auto score = [&](int64_t m, int64_t n) {
    auto qm = apply_rope(q, cos.narrow(0, m, 1), sin.narrow(0, m, 1));
    auto kn = apply_rope(k, cos.narrow(0, n, 1), sin.narrow(0, n, 1));
    return (qm * kn).sum().item<double>();
  };
  for (auto [m, n] : {std::pair<int64_t, int64_t>{3, 1}, {0, 7}, {10, 10}, {20, 2}})
    EXPECT_NEAR(score(m, n), score(m + 5, n + 5), 1e-5) << m << "," << n;
  // Position 0 is the identity.
  expect_close(apply_rope(q, cos.narrow(0, 0, 1), sin.narrow(0, 0, 1)), q, 0);
}

TEST(Rope, RejectsUnsupportedScaling) {
  ModelConfig c = tiny_config();
  c.rope_scaling.type = RopeType::kYarn;
  try {
    Transformer m(c);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.exit_code(), 2);
    EXPECT_STREQ(e.what(),
                 "model config: rope_scaling type 'yarn' is not supported yet; "
                 "supported: default, linear, llama3");
  }
}

TEST(Rope, LinearScalingDividesPositions) {
  ModelConfig c = tiny_config();
  auto [cos1, sin1] = rope_tables(c, 32);
  c.rope_scaling.type = RopeType::kLinear;
  c.rope_scaling.factor = 4.0;
  auto [cos4, sin4] = rope_tables(c, 32);
  // Position 8 scaled by 4 is position 2 unscaled.
  expect_close(cos4[8], cos1[2], 1e-6);
  expect_close(sin4[8], sin1[2], 1e-6);
}

TEST(Model, IsCausal) {
  torch::manual_seed(1);
  Transformer m(tiny_config());
  auto ids = torch::randint(64, {2, 10}, torch::kLong);
  auto base = m->forward(ids);
  ASSERT_EQ(base.sizes(), (std::vector<int64_t>{2, 10, 64}));
  EXPECT_EQ(base.scalar_type(), torch::kFloat);
  auto changed_ids = ids.clone();
  changed_ids.select(1, 5).fill_((ids[0][5].item<int64_t>() + 1) % 64);
  auto changed = m->forward(changed_ids);
  expect_close(changed.narrow(1, 0, 5), base.narrow(1, 0, 5), 1e-6);
  EXPECT_GT((changed.select(1, 5) - base.select(1, 5)).abs().max().item<double>(), 1e-4);
}

TEST(Model, GqaEqualsMhaWithRepeatedKv) {
  torch::manual_seed(2);
  Transformer gqa(tiny_config(/*n_kv_heads=*/2));
  Transformer mha(tiny_config(/*n_kv_heads=*/4));
  const int64_t G = 2, D = 8;
  {
    torch::NoGradGuard no_grad;
    auto mha_params = mha->named_parameters();
    for (const auto& p : gqa->named_parameters()) {
      auto w = p.value();
      if (p.key().find("k_proj") != std::string::npos ||
          p.key().find("v_proj") != std::string::npos)
        w = w.view({-1, D, w.size(1)}).repeat_interleave(G, 0).reshape({-1, w.size(-1)});
      mha_params[p.key()].copy_(w);
    }
  }
  auto ids = torch::randint(64, {2, 9}, torch::kLong);
  expect_close(gqa->forward(ids), mha->forward(ids), 1e-5);
}

TEST(Model, KvCacheMatchesFullForward) {
  torch::manual_seed(3);
  Transformer m(tiny_config());
  torch::NoGradGuard no_grad;
  auto ids = torch::randint(64, {2, 12}, torch::kLong);
  for (int64_t offset : {0, 7}) {
    auto full = m->forward(ids, {nullptr, offset});
    KVCache one;
    for (int64_t t = 0; t < 12; ++t) {
      auto step = m->forward(ids.narrow(1, t, 1), {&one, offset + t});
      expect_close(step.select(1, 0), full.select(1, t), 1e-5);
    }
    EXPECT_EQ(one.length(), 12);
    KVCache chunked;
    for (auto [start, len] : {std::pair<int64_t, int64_t>{0, 5}, {5, 4}, {9, 3}}) {
      auto part = m->forward(ids.narrow(1, start, len), {&chunked, offset + start});
      expect_close(part, full.narrow(1, start, len), 1e-5);
    }
    // Roll back to 5 positions and decode the rest again.
    chunked.truncate(5);
    EXPECT_EQ(chunked.length(), 5);
    auto rest = m->forward(ids.narrow(1, 5, 7), {&chunked, offset + 5});
    expect_close(rest, full.narrow(1, 5, 7), 1e-5);
  }
}

// Nodes of the autograd graph behind `t` whose name contains `part`.
int count_graph_nodes(const torch::Tensor& t, const std::string& part) {
  std::vector<torch::autograd::Node*> todo{t.grad_fn().get()};
  std::set<torch::autograd::Node*> seen;
  int n = 0;
  while (!todo.empty()) {
    auto* node = todo.back();
    todo.pop_back();
    if (!node || !seen.insert(node).second) continue;
    if (node->name().find(part) != std::string::npos) ++n;
    for (const auto& edge : node->next_edges()) todo.push_back(edge.function.get());
  }
  return n;
}

TEST(Model, ActivationCheckpointingRecomputesTheChosenBlocks) {
  // Every 2nd of 4 blocks (0 and 2) becomes one recomputing node, in training only: not
  // without autograd, not while decoding into a cache. (Losses and gradients equal to a run
  // without it: Train.ActivationCheckpointingGivesTheSameRun.)
  torch::manual_seed(3);
  ModelConfig c = tiny_config();
  c.num_hidden_layers = 4;
  Transformer m(c);
  auto ids = torch::randint(64, {2, 9}, torch::kLong);
  const auto plain = m->forward(ids);
  EXPECT_EQ(count_graph_nodes(plain, "CheckpointFunction"), 0);
  m->set_activation_checkpointing(2);
  const auto recomputed = m->forward(ids);
  EXPECT_EQ(count_graph_nodes(recomputed, "CheckpointFunction"), 2);
  // Blocks inside a checkpoint save nothing of their own: fewer nodes in the graph.
  EXPECT_LT(count_graph_nodes(recomputed, ""), count_graph_nodes(plain, ""));
  expect_close(recomputed, plain, 0);
  KVCache cache;
  EXPECT_EQ(count_graph_nodes(m->forward(ids, {&cache}), "CheckpointFunction"), 0);
  torch::NoGradGuard no_grad;
  EXPECT_FALSE(m->forward(ids).requires_grad());
}

TEST(Model, TiledCausalAttentionMatchesShortForwards) {
  // 700 positions: two key tiles and several query tiles (GQA); pieces of 100 through the
  // KV cache see the cached keys as past keys, within and across key tiles.
  torch::manual_seed(5);
  ModelConfig c = tiny_config(/*n_kv_heads=*/2);
  c.max_position_embeddings = 1024;
  Transformer m(c);
  torch::NoGradGuard no_grad;
  auto ids = torch::randint(64, {2, 700}, torch::kLong);
  auto full = m->forward(ids);
  KVCache cache;
  for (int64_t start = 0; start < 700; start += 100) {
    auto part = m->forward(ids.narrow(1, start, 100), {&cache});
    expect_close(part, full.narrow(1, start, 100), 1e-5);
  }
}

TEST(Model, PackedDocumentsAreIndependent) {
  // Three documents in one window, positions restarting at 0: each document's logits are
  // those of the document alone, and changing one changes no other's.
  torch::manual_seed(6);
  ModelConfig c = tiny_config(/*n_kv_heads=*/2);
  c.max_position_embeddings = 1024;
  Transformer m(c);
  torch::NoGradGuard no_grad;
  const std::vector<int64_t> lengths = {300, 250, 150};
  auto ids = torch::randint(64, {1, 700}, torch::kLong);
  std::vector<torch::Tensor> pos;
  for (int64_t n : lengths) pos.push_back(torch::arange(n));
  ForwardArgs packed;
  packed.positions = torch::cat(pos).unsqueeze(0);  // (1, 700)
  auto logits = m->forward(ids, packed);
  int64_t at = 0;
  for (int64_t n : lengths) {
    expect_close(logits.narrow(1, at, n), m->forward(ids.narrow(1, at, n)), 1e-5);
    at += n;
  }
  auto changed_ids = ids.clone();
  changed_ids.narrow(1, 300, 250).random_(64);
  auto changed = m->forward(changed_ids, packed);
  expect_close(changed.narrow(1, 0, 300), logits.narrow(1, 0, 300), 1e-6);
  expect_close(changed.narrow(1, 550, 150), logits.narrow(1, 550, 150), 1e-6);
  EXPECT_GT((changed.narrow(1, 300, 250) - logits.narrow(1, 300, 250)).abs().max().item<double>(),
            1e-4);
}

// A key/value prefix of fixed tensors, installed through the builder.
struct FixedPrefixImpl : KVPrefixImpl {
  explicit FixedPrefixImpl(std::vector<LayerKV> kv) : kv(std::move(kv)) {}
  std::vector<LayerKV> forward() override { return kv; }
  std::vector<LayerKV> kv;
};

ModelBuilder with_prefix(std::vector<LayerKV> kv) {
  ModelBuilder b;
  b.kv_prefix = [kv](const ModelConfig&) {
    return std::pair<std::string, KVPrefix>{"prefix", std::make_shared<FixedPrefixImpl>(kv)};
  };
  return b;
}

TEST(Model, EmptyPrefixGivesBaseLogits) {
  torch::manual_seed(4);
  Transformer base(tiny_config());
  Transformer m(tiny_config(),
                with_prefix({2, {torch::zeros({1, 2, 0, 8}), torch::zeros({1, 2, 0, 8})}}));
  torch::NoGradGuard no_grad;
  for (auto& [name, t] : model_state(*base)) m->named_parameters()[name].copy_(t);
  auto ids = torch::randint(64, {2, 6}, torch::kLong);
  expect_close(m->forward(ids), base->forward(ids), 1e-6);
}

TEST(Model, PrefixIsSeededIntoTheCacheAndShiftsPositions) {
  // PEFT's past_key_values semantics: with a P-key prefix, a full forward equals decoding
  // the same tokens one by one into a cache that starts with the prefix; the tokens sit at
  // positions P.., the prefix keys are not rotated.
  torch::manual_seed(6);
  std::vector<LayerKV> kv;
  for (int l = 0; l < 2; ++l)
    kv.push_back({torch::randn({1, 2, 3, 8}), torch::randn({1, 2, 3, 8})});
  Transformer m(tiny_config(), with_prefix(kv));
  torch::NoGradGuard no_grad;
  auto ids = torch::randint(64, {1, 7}, torch::kLong);
  auto full = m->forward(ids);
  KVCache cache;
  for (int64_t t = 0; t < 7; ++t) {
    auto step = m->forward(ids.narrow(1, t, 1), {&cache});
    expect_close(step.select(1, 0), full.select(1, t), 1e-5);
  }
  EXPECT_EQ(cache.length(), 3 + 7);
  expect_close(cache.layers[1].k.narrow(2, 0, 3), kv[1].k, 0);
  // The same keys with the tokens at positions 0.. instead of P.. give other logits.
  EXPECT_GT((m->forward(ids, {nullptr, 0}) - full).abs().max().item<double>(), 1e-4);
}

std::vector<std::string> names_of(torch::nn::Module& m) {
  std::vector<std::string> names;
  for (const auto& [name, value] : model_state(m)) names.push_back(name);
  return names;
}

TEST(Model, ParameterNamesAreHfKeys) {
  std::vector<std::string> expected = {"model.embed_tokens.weight"};
  for (int l = 0; l < 2; ++l)
    for (const char* s : {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                          "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj",
                          "input_layernorm", "post_attention_layernorm"})
      expected.push_back("model.layers." + std::to_string(l) + "." + s + ".weight");
  expected.push_back("model.norm.weight");
  Transformer tied(tiny_config(2, /*tied=*/true));
  EXPECT_EQ(names_of(*tied), expected);
  EXPECT_TRUE(tied->head_weight().is_same(tied->model->embed_tokens->weight));
  expected.push_back("lm_head.weight");
  Transformer untied(tiny_config(2, /*tied=*/false));
  EXPECT_EQ(names_of(*untied), expected);
  EXPECT_EQ(untied->head_weight().sizes(), (std::vector<int64_t>{64, 32}));
}

// A hook that adds a learnable bias, to check where hooks attach and how they are named.
struct BiasHookImpl : SublayerHookImpl {
  BiasHookImpl(int64_t d) { bias = register_parameter("bias", torch::zeros({d})); }
  torch::Tensor forward(const torch::Tensor& x) override { return x + bias; }
  torch::Tensor bias;
};

TEST(Model, BuilderSuppliesProjectionsAndHooks) {
  std::vector<std::string> paths;
  ModelBuilder b;
  b.projection = [&](const std::string& path, int64_t in, int64_t out, bool) -> Projection {
    paths.push_back(path);
    return nullptr;  // default Linear
  };
  b.sublayer_hook = [](const std::string& block, Sublayer where,
                       int64_t d) -> std::pair<std::string, SublayerHook> {
    if (where == Sublayer::kMlp) return {"mlp_adapter", std::make_shared<BiasHookImpl>(d)};
    return {};
  };
  ModelConfig c = tiny_config();
  c.num_hidden_layers = 1;
  Transformer m(c, b);
  EXPECT_EQ(paths, (std::vector<std::string>{
                       "model.layers.0.self_attn.q_proj", "model.layers.0.self_attn.k_proj",
                       "model.layers.0.self_attn.v_proj", "model.layers.0.self_attn.o_proj",
                       "model.layers.0.mlp.gate_proj", "model.layers.0.mlp.up_proj",
                       "model.layers.0.mlp.down_proj", "lm_head"}));
  auto params = m->named_parameters();
  ASSERT_TRUE(params.contains("model.layers.0.mlp_adapter.bias"));
  EXPECT_FALSE(params.contains("model.layers.0.attn_adapter.bias"));
  // The hook output goes into the residual stream.
  auto ids = torch::randint(64, {1, 4}, torch::kLong);
  auto before = m->hidden(ids);
  {
    torch::NoGradGuard no_grad;
    params["model.layers.0.mlp_adapter.bias"].fill_(1.0);
  }
  EXPECT_GT((m->hidden(ids) - before).abs().max().item<double>(), 1e-3);
}

TEST(Loss, MeanIgnoresMinus100AndIsZeroWhenEmpty) {
  torch::manual_seed(5);
  auto logits = torch::randn({2, 3, 5});
  auto targets = torch::tensor({{1, -100, 4}, {0, 2, -100}}, torch::kLong);
  auto per = torch::nn::functional::cross_entropy(
      logits.reshape({-1, 5}), targets.reshape({-1}),
      torch::nn::functional::CrossEntropyFuncOptions().ignore_index(-100).reduction(torch::kNone));
  EXPECT_NEAR(lm_loss_sum(logits, targets).item<double>(), per.sum().item<double>(), 1e-6);
  EXPECT_NEAR(lm_loss(logits, targets).item<double>(), per.sum().item<double>() / 4, 1e-6);
  auto none = torch::full({2, 3}, -100, torch::kLong);
  auto l = torch::randn({2, 3, 5}, torch::requires_grad());
  auto loss = lm_loss(l, none);
  EXPECT_EQ(loss.item<double>(), 0.0);
  loss.backward();
  EXPECT_FALSE(torch::isnan(l.grad()).any().item<bool>());
}

TEST(Linear, HalfOnCpuIsFp32MathRoundedToHalf) {
  torch::manual_seed(6);
  auto x = torch::randn({3, 8}).to(torch::kHalf), w = torch::randn({4, 8}).to(torch::kHalf);
  auto y = mixed_linear(x, w);
  EXPECT_EQ(y.scalar_type(), torch::kHalf);
  auto ref = torch::matmul(x.to(torch::kFloat), w.to(torch::kFloat).t()).to(torch::kHalf);
  EXPECT_TRUE(torch::equal(y, ref));
}

// LibTorch 1.13 has no CPU Half bernoulli: fp16 dropout (LoRA, adapters) masks and scales in
// fp32 and rounds once; each output is 0 or x / (1 - p) rounded to fp16, and a LoRA layer with
// dropout trains in fp16.
TEST(Dropout, HalfOnCpuMasksInFp32AndRoundsOnce) {
  torch::manual_seed(8);
  auto x = torch::randn({64, 64}).to(torch::kHalf).requires_grad_(true);
  auto y = mixed_dropout(x, 0.25);
  ASSERT_EQ(y.scalar_type(), torch::kHalf);
  auto kept = y.ne(0);
  auto scaled = (x.detach().to(torch::kFloat) / 0.75).to(torch::kHalf);
  EXPECT_TRUE(torch::equal(y.detach().masked_select(kept), scaled.masked_select(kept)));
  EXPECT_NEAR(1.0 - kept.to(torch::kFloat).mean().item<double>(), 0.25, 0.03);
  y.sum().backward();
  ASSERT_EQ(x.grad().scalar_type(), torch::kHalf);
  EXPECT_TRUE(torch::equal(x.grad().ne(0), kept));

  auto lora = std::make_shared<LoRALinearImpl>(16, 8, /*r=*/4, /*scale=*/2.0, /*dropout=*/0.1);
  lora->to(torch::kHalf);
  lora->train();
  auto in = torch::randn({2, 5, 16}).to(torch::kHalf);
  lora->forward(in).to(torch::kFloat).sum().backward();
  EXPECT_TRUE(lora->lora_A->weight.grad().defined());
}

TEST(Model, TrainsInBf16AndFp16) {
  torch::manual_seed(7);
  Transformer m(tiny_config());
  auto ids = torch::randint(64, {2, 8}, torch::kLong);
  auto ref = m->forward(ids);
  for (auto dtype : {torch::kBFloat16, torch::kHalf}) {
    m->to(dtype);
    auto out = m->forward(ids);
    EXPECT_EQ(out.scalar_type(), torch::kFloat);
    EXPECT_LT((out - ref).abs().max().item<double>(), 0.05) << dtype;
    lm_loss(out, ids).backward();  // every op has a backward in this dtype on CPU
    for (const auto& p : m->named_parameters()) {
      ASSERT_TRUE(p.value().grad().defined()) << p.key();
      EXPECT_EQ(p.value().grad().scalar_type(), dtype) << p.key();
      EXPECT_TRUE(torch::isfinite(p.value().grad()).all().item<bool>()) << p.key();
    }
    for (auto& p : m->parameters()) p.mutable_grad() = torch::Tensor();
    m->to(torch::kFloat);
  }
}

TEST(Model, OverfitsOneBatch) {
  torch::manual_seed(8);
  ModelConfig c = tiny_config();
  c.vocab_size = 32;
  Transformer m(c);
  auto ids = torch::randint(32, {2, 16}, torch::kLong);
  auto targets = torch::roll(ids, -1, 1);
  targets.select(1, 15).fill_(-100);
  torch::optim::AdamW opt(m->parameters(), torch::optim::AdamWOptions(1e-2).weight_decay(0.0));
  double loss_value = 0;
  for (int step = 0; step < 150; ++step) {
    opt.zero_grad();
    auto loss = lm_loss(m->forward(ids), targets);
    loss.backward();
    opt.step();
    loss_value = loss.item<double>();
  }
  EXPECT_LT(loss_value, 0.05);
}

}  // namespace
}  // namespace ptune
