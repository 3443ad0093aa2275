// Unit tests of MTP heads and their loss: label offsets (learned on a sequence whose answer
// is known), lambda = 0 is exactly the LM loss, train_base false trains only the heads,
// sequential module shapes and embedding shift, sequential drafter cache logic, save/load.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "ptune/core/error.h"
#include "ptune/io/mtp_config.h"
#include "ptune/model/loss.h"
#include "ptune/mtp/heads_io.h"
#include "ptune/mtp/loss.h"
#include "test_util.h"
#include "tiny_run.h"

namespace ptune {
namespace {

ModelConfig tiny_config(int64_t vocab = 16) {
  ModelConfig c = test::tiny_model_config(vocab);
  c.num_hidden_layers = 1;
  c.pad_token_id = -1;
  return c;
}

MtpConfig mtp(const std::string& style, int64_t heads = 3, double lambda = 0.3, bool base = true) {
  MtpConfig m;
  m.style = *parse_choice<MtpStyle>(style);
  m.heads = heads;
  m.loss_weight = lambda;
  m.train_base = base;
  return m;
}

// Counting sequences mod V with random starts: token at t is (s + t) % V.
Batch counting_batch(int64_t B, int64_t T, int64_t V, uint64_t seed) {
  torch::manual_seed(seed);
  auto start = torch::randint(V, {B, 1}, torch::kLong);
  auto seq = (start + torch::arange(T + 1, torch::kLong).unsqueeze(0)).remainder(V);  // (B, T+1)
  Batch b;
  b.input_ids = seq.narrow(1, 0, T).contiguous();
  b.targets = seq.narrow(1, 1, T).contiguous();
  b.n_targets = B * T;
  b.n_tokens = B * T;
  return b;
}

TEST(MtpLoss, HeadTargetsAreShiftedLeftByK) {
  auto t = torch::arange(11, 17, torch::kLong).unsqueeze(0);  // token at t+1 = 11 + t
  auto h2 = head_targets(t, 2);
  EXPECT_TRUE(
      torch::equal(h2, torch::tensor({13, 14, 15, 16, -100, -100}, torch::kLong).unsqueeze(0)));
  EXPECT_TRUE(torch::equal(head_targets(t, 6), torch::full({1, 6}, -100, torch::kLong)));
}

// Heads trained on counting sequences predict token t+1+k exactly; a wrong offset could not.
TEST(MtpLoss, EachHeadLearnsItsOffset) {
  for (const std::string style : {"parallel", "sequential"}) {
    torch::manual_seed(0);
    Transformer model(tiny_config());
    NamedTensors params;
    for (auto& p : model->named_parameters()) params.emplace_back(p.key(), p.value());
    auto obj = make_mtp_objective(mtp(style, 3, 1.0), model, params);
    std::vector<torch::Tensor> ps;
    for (auto& [_, p] : params) ps.push_back(p);
    torch::optim::Adam opt(ps, torch::optim::AdamOptions(2e-2));
    for (int step = 0; step < 70; ++step) {
      Batch b = counting_batch(8, 12, 16, step);
      opt.zero_grad();
      obj->forward_backward(model, b, b.n_targets);
      opt.step();
      obj->step_metrics();
    }
    Batch b = counting_batch(8, 12, 16, 999);
    torch::NoGradGuard no_grad;
    obj->forward_backward(model, b, b.n_targets);
    auto m = obj->step_metrics();
    ASSERT_EQ(m.size(), 7u);
    for (int64_t k = 1; k <= 3; ++k) {
      EXPECT_EQ(m[2 * k - 1].first, "mtp_loss_" + std::to_string(k));
      EXPECT_EQ(m[2 * k].first, "mtp_acc_" + std::to_string(k));
      EXPECT_GT(m[2 * k].second, 0.95) << style << " head " << k;
    }
    // Direct check: head k's argmax at t is (x_t + 1 + k) % V.
    auto trunk = model->hidden(b.input_ids);
    auto prev = trunk;
    for (int64_t k = 1; k <= 3; ++k) {
      auto h = obj->heads()->head_hidden(k, trunk, prev, b.input_ids, b.positions, model);
      auto pred = obj->heads()->head_logits(k, h, model).argmax(-1);  // (B, T)
      auto want = (b.input_ids + 1 + k).remainder(16);
      const int64_t T = 12 - k;  // positions with a label
      EXPECT_GT(
          pred.narrow(1, 0, T).eq(want.narrow(1, 0, T)).to(torch::kFloat).mean().item<double>(),
          0.95)
          << style << " head " << k;
      prev = h;
    }
  }
}

TEST(MtpLoss, LambdaZeroGivesExactlyTheLmLossAndGradients) {
  torch::manual_seed(1);
  Transformer a(tiny_config()), b(tiny_config());
  {
    torch::NoGradGuard no_grad;
    for (size_t i = 0; i < a->parameters().size(); ++i)
      b->parameters()[i].copy_(a->parameters()[i]);
  }
  Batch batch = counting_batch(3, 9, 16, 5);
  batch.targets[0][2] = -100;
  const int64_t norm = 40;
  NamedTensors params;
  auto obj = make_mtp_objective(mtp("parallel", 2, 0.0), b, params);
  const double got = obj->forward_backward(b, batch, norm);
  torch::Tensor ref = lm_loss_sum(a->forward(batch.input_ids), batch.targets) / norm;
  ref.backward();
  EXPECT_EQ(got, ref.item<double>());
  for (size_t i = 0; i < a->parameters().size(); ++i)
    EXPECT_TRUE(torch::equal(a->parameters()[i].grad(), b->parameters()[i].grad())) << i;
  EXPECT_EQ(obj->weight(1), 0.0);
}

TEST(MtpLoss, WeightsFollowDecayOrOneOverK) {
  Transformer model(tiny_config());
  NamedTensors params;
  auto p = make_mtp_objective(mtp("parallel", 3, 0.3), model, params);
  EXPECT_DOUBLE_EQ(p->weight(2), 0.3 * 0.8 * 0.8);
  auto s = make_mtp_objective(mtp("sequential", 3, 0.3), model, params);
  EXPECT_DOUBLE_EQ(s->weight(2), 0.1);
  EXPECT_EQ(make_mtp_objective(mtp("none"), model, params), nullptr);
}

TEST(MtpLoss, TrainBaseFalseChangesOnlyTheHeads) {
  for (const std::string style : {"parallel", "sequential"}) {
    torch::manual_seed(2);
    Transformer model(tiny_config());
    NamedTensors params;
    for (auto& p : model->named_parameters()) params.emplace_back(p.key(), p.value());
    std::vector<torch::Tensor> before;
    for (auto& p : model->parameters()) before.push_back(p.detach().clone());
    auto obj = make_mtp_objective(mtp(style, 2, 0.3, /*base=*/false), model, params);
    ASSERT_EQ(params.size(), obj->heads()->named_tensors().size());
    for (auto& [name, _] : params) EXPECT_EQ(name.rfind("mtp.", 0), 0u) << name;
    auto heads_before = obj->heads()->named_tensors();
    for (auto& [_, t] : heads_before) t = t.detach().clone();
    std::vector<torch::Tensor> ps;
    for (auto& [_, p] : params) ps.push_back(p);
    torch::optim::AdamW opt(ps, torch::optim::AdamWOptions(1e-2));
    for (int step = 0; step < 3; ++step) {
      Batch b = counting_batch(4, 8, 16, step);
      opt.zero_grad();
      obj->forward_backward(model, b, b.n_targets);
      opt.step();
    }
    auto now = model->parameters();
    for (size_t i = 0; i < now.size(); ++i) {
      EXPECT_TRUE(torch::equal(now[i], before[i])) << style << " base param " << i;
      EXPECT_FALSE(now[i].grad().defined() && now[i].grad().abs().sum().item<double>() > 0);
    }
    auto heads_now = obj->heads()->named_tensors();
    bool changed = false;
    for (size_t i = 0; i < heads_now.size(); ++i)
      changed |= !torch::equal(heads_now[i].second, heads_before[i].second);
    EXPECT_TRUE(changed) << style;
  }
}

TEST(MtpHeads, ParallelInitialisation) {
  torch::manual_seed(3);
  Transformer model(tiny_config());
  auto heads =
      std::dynamic_pointer_cast<ParallelHeadsImpl>(make_mtp_heads(mtp("parallel", 2), model));
  ASSERT_TRUE(heads);
  auto names = heads->named_tensors();
  ASSERT_EQ(names.size(), 6u);
  EXPECT_EQ(names[0].first, "medusa_head.0.0.linear.weight");
  EXPECT_EQ(names[1].first, "medusa_head.0.0.linear.bias");
  EXPECT_EQ(names[2].first, "medusa_head.0.1.weight");
  EXPECT_TRUE(torch::equal(heads->blocks[1]->linear->weight, torch::zeros({32, 32})));
  EXPECT_TRUE(torch::equal(heads->out_proj[1], model->head_weight()));
  // x + SiLU(0 x + b): the head's hidden state is the trunk's shifted by SiLU(b).
  auto x = torch::randn({2, 5, 32});
  auto h = heads->head_hidden(1, x, x, {}, {}, model);
  EXPECT_TRUE(torch::allclose(h, x + torch::silu(heads->blocks[0]->linear->bias)));
}

TEST(MtpHeads, SequentialShapesAndEmbeddingShift) {
  torch::manual_seed(4);
  Transformer model(tiny_config());
  auto heads =
      std::dynamic_pointer_cast<SequentialHeadsImpl>(make_mtp_heads(mtp("sequential", 2), model));
  ASSERT_TRUE(heads);
  EXPECT_EQ(heads->modules[0]->eh_proj->weight.sizes(), (std::vector<int64_t>{32, 64}));
  bool has_block_key = false;
  for (auto& [n, _] : heads->named_tensors())
    has_block_key |= n == "mtp_layers.1.block.self_attn.q_proj.weight";
  EXPECT_TRUE(has_block_key);
  torch::NoGradGuard no_grad;
  auto ids = torch::randint(16, {2, 10}, torch::kLong);
  auto prev = torch::randn({2, 10, 32});
  for (int64_t k = 1; k <= 2; ++k) {
    auto h = heads->head_hidden(k, prev, prev, ids, {}, model);
    ASSERT_EQ(h.sizes(), (std::vector<int64_t>{2, 10, 32}));
    EXPECT_EQ(heads->head_logits(k, h, model).sizes(), (std::vector<int64_t>{2, 10, 16}));
    // Position i reads Emb(ids[i + k]): changing ids[:, 6] changes positions >= 6 - k only.
    auto ids2 = ids.clone();
    ids2.select(1, 6).add_(1).remainder_(16);
    auto diff = (heads->head_hidden(k, prev, prev, ids2, {}, model) - h).abs().amax({0, 2});  // (T)
    for (int64_t i = 0; i < 10; ++i)
      EXPECT_EQ(diff[i].item<double>() > 0, i >= 6 - k) << "module " << k << " position " << i;
  }
}

// The sequential drafter's cached, incremental computation equals recomputing every module
// over the whole sequence (tokens + drafts so far) in each round.
TEST(MtpHeads, SequentialDrafterMatchesFullRecompute) {
  torch::manual_seed(5);
  Transformer model(tiny_config());
  auto heads =
      std::dynamic_pointer_cast<SequentialHeadsImpl>(make_mtp_heads(mtp("sequential", 3), model));
  torch::NoGradGuard no_grad;
  auto drafter = heads->drafter(model);
  std::vector<int64_t> all;
  for (int i = 0; i < 20; ++i) all.push_back((i * 7 + 3) % 16);
  int64_t committed = 0;  // positions whose base hidden was handed to the drafter
  for (int64_t n_tokens : {4, 5, 8, 9, 12, 16}) {
    std::vector<int64_t> tokens(all.begin(), all.begin() + n_tokens);
    auto ids = torch::tensor(tokens, torch::kLong).unsqueeze(0);
    auto trunk = model->hidden(ids.narrow(1, 0, n_tokens - 1));  // (1, n+1, d)
    auto drafts = drafter->draft(tokens, trunk.narrow(1, committed, n_tokens - 1 - committed));
    committed = n_tokens - 1;
    std::vector<int64_t> ext(tokens);
    torch::Tensor prev = trunk;
    const int64_t n = n_tokens - 2;
    for (int64_t k = 1; k <= 3; ++k) {
      auto ids_k = torch::tensor(std::vector<int64_t>(ext.begin() + k, ext.begin() + n + k + 1),
                                 torch::kLong)
                       .unsqueeze(0);
      auto h = heads->modules[k - 1]->forward(prev, ids_k, model, {});
      const int64_t want =
          heads->head_logits(k, h.narrow(1, n, 1), model).argmax(-1).item<int64_t>();
      EXPECT_EQ(drafts[k - 1], want) << "round with " << n_tokens << " tokens, module " << k;
      ext.push_back(want);
      prev = h;
    }
  }
}

TEST(MtpHeads, SaveLoadRoundTrip) {
  test::TempDir t;
  for (const std::string style : {"parallel", "sequential"}) {
    torch::manual_seed(6);
    Transformer model(tiny_config());
    MtpConfig c = mtp(style, 2, 0.25);
    c.head_decay = 0.5;
    c.train_base = false;
    auto heads = make_mtp_heads(c, model);
    {
      torch::NoGradGuard no_grad;
      for (auto& [_, p] : heads->named_tensors()) p.normal_();
    }
    save_mtp_heads(t.path(), c, *heads);
    EXPECT_TRUE(has_mtp_heads(t.path()));
    auto [c2, loaded] = load_mtp_heads(t.path(), model);
    EXPECT_EQ(name_of(c2.style), style);
    EXPECT_EQ(c2.heads, 2);
    EXPECT_EQ(c2.loss_weight, 0.25);
    EXPECT_EQ(c2.head_decay, 0.5);
    EXPECT_FALSE(c2.train_base);
    auto a = heads->named_tensors(), b = loaded->named_tensors();
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) {
      EXPECT_EQ(a[i].first, b[i].first);
      EXPECT_TRUE(torch::equal(a[i].second, b[i].second)) << a[i].first;
    }
  }
  // Three heads cannot load a two-head file.
  Transformer model(tiny_config());
  auto three = make_mtp_heads(mtp("sequential", 3), model);
  try {
    load_mtp_weights(t.path(), *three);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("tensor 'mtp_layers.2.enorm.weight' missing"),
              std::string::npos)
        << e.what();
  }
}

TEST(MtpHeads, BadMtpConfigIsNamed) {
  test::TempDir t;
  test::write_text(t / "mtp_config.json", R"({"style": "tree", "heads": 2})");
  try {
    read_mtp_config(t / "mtp_config.json");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()),
              t / "mtp_config.json" + ": style must be parallel or sequential, got 'tree'");
  }
}

}  // namespace
}  // namespace ptune
