// Loss scaler (lib/ptune/precision): GradScaler's state machine with Megatron's hysteresis and
// min/max bounds against scripted overflow/clean sequences; skipped steps leave parameters and
// AdamW state bit-identical; state round trip.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <limits>

#include "ptune/core/error.h"
#include "ptune/model/loss.h"
#include "ptune/precision/loss_scaler.h"
#include "ptune/precision/precision.h"
#include "ptune/train/optimizer.h"

using namespace ptune;

namespace {

struct Expect {
  bool overflow;
  double scale;  // after update()
  int64_t growth, hysteresis;
};

LossScaleConfig small_config(int64_t hysteresis) {
  LossScaleConfig c;
  c.init = 8.0;
  c.growth_interval = 3;
  c.hysteresis = hysteresis;
  c.min_scale = 1.0;
  c.max_scale = 32.0;
  return c;
}

void run_script(LossScaler& s, const std::vector<Expect>& script) {
  int64_t skipped = 0;
  for (size_t i = 0; i < script.size(); ++i) {
    const Expect& e = script[i];
    s.update(e.overflow);
    skipped += e.overflow;
    EXPECT_EQ(s.loss_scale(), e.scale) << "event " << i;
    EXPECT_EQ(s.growth_tracker(), e.growth) << "event " << i;
    EXPECT_EQ(s.hysteresis_tracker(), e.hysteresis) << "event " << i;
    EXPECT_EQ(s.skipped_steps(), skipped) << "event " << i;
  }
}

constexpr bool O = true, C = false;  // overflow, clean

}  // namespace

// hysteresis 1 = GradScaler: back off on every overflow (tracker to 0), double after
// growth_interval clean steps in a row, here bounded to [1, 32].
TEST(LossScaler, GradScalerRulesWithBounds) {
  LossScaler s(small_config(1));
  EXPECT_EQ(s.loss_scale(), 8.0);
  run_script(
      s,
      {{C, 8, 1, 1},  {C, 8, 2, 1},  {C, 16, 0, 1},  // grows after 3 clean steps
       {C, 16, 1, 1}, {O, 8, 0, 0},                  // overflow resets the tracker
       {C, 8, 1, 0},  {C, 8, 2, 0},  {C, 16, 0, 1}, {C, 16, 1, 1}, {C, 16, 2, 1},
       {C, 32, 0, 1}, {C, 32, 1, 1}, {C, 32, 2, 1}, {C, 32, 0, 1},  // max_scale: no growth past 32
       {O, 16, 0, 0}, {O, 8, 0, -1}, {O, 4, 0, -2}, {O, 2, 0, -3}, {O, 1, 0, -4},
       {O, 1, 0, -5},  // min_scale: no backoff below 1
       {C, 1, 1, -5}, {C, 1, 2, -5}, {C, 2, 0, 1}});
}

// Megatron hysteresis 2: the first overflow after a growth is tolerated, later ones back off
// until the next growth re-arms the tracker.
TEST(LossScaler, MegatronHysteresis) {
  LossScaler s(small_config(2));
  run_script(s, {{O, 8, 0, 1},
                 {C, 8, 1, 1},
                 {O, 4, 0, 0},   // tolerated, then backs off
                 {O, 2, 0, -1},  // no re-arm without growth
                 {C, 2, 1, -1},
                 {C, 2, 2, -1},
                 {C, 4, 0, 2},  // growth re-arms hysteresis
                 {O, 4, 0, 1},
                 {O, 2, 0, 0}});
}

TEST(LossScaler, StaticScaleNeverChangesButCountsSkips) {
  LossScaleConfig c = small_config(1);
  c.dynamic = false;
  c.init = 128.0;
  LossScaler s(c);
  for (bool o : {C, C, C, O, C, O, C, C, C}) s.update(o);
  EXPECT_EQ(s.loss_scale(), 128.0);
  EXPECT_EQ(s.skipped_steps(), 2);
}

TEST(LossScaler, GrowthIntervalDefaultGrowsAfter2000CleanSteps) {
  LossScaler s(LossScaleConfig{});
  for (int i = 0; i < 1999; ++i) s.update(false);
  EXPECT_EQ(s.loss_scale(), 65536.0);
  EXPECT_EQ(s.growth_tracker(), 1999);
  s.update(false);
  EXPECT_EQ(s.loss_scale(), 131072.0);
  EXPECT_EQ(s.growth_tracker(), 0);
}

TEST(LossScaler, UnscaleUsesDoubleReciprocalAndChecksAllGrads) {
  LossScaleConfig c;
  c.init = 3.0;  // 1/3 is not exact: must equal float(1.0 / 3.0) applied in fp32
  LossScaler s(c);
  auto a = torch::ones({4}, torch::requires_grad());
  auto b = torch::ones({2, 2}, torch::requires_grad());
  auto loss = s.scale((a * torch::arange(4)).sum() + (b * 2).sum());
  EXPECT_FLOAT_EQ(loss.item<float>(), 3.0f * 14.0f);
  loss.backward();
  EXPECT_FALSE(s.unscale_and_check({a, b}));
  EXPECT_TRUE(torch::equal(b.grad(), torch::full({2, 2}, 6.0f) * static_cast<float>(1.0 / 3.0)));
  EXPECT_TRUE(torch::allclose(a.grad(), torch::arange(4).to(torch::kFloat)));
  s.update(false);
  // One non-finite element in any gradient is found, inf or NaN.
  for (float bad : {std::numeric_limits<float>::infinity(), std::nanf("")}) {
    b.grad().fill_(1.0f);
    b.grad()[1][0] = bad;
    EXPECT_TRUE(s.unscale_and_check({a, b})) << bad;
    s.update(true);
  }
  EXPECT_EQ(s.skipped_steps(), 2);
  EXPECT_EQ(s.loss_scale(), 1.0);  // 3 -> 1.5 -> max(0.75, min_scale 1)
}

namespace {

// Two fp32 master parameters, an AdamW and a quadratic loss.
struct TinyProblem {
  torch::Tensor w = torch::randn({8, 4}).requires_grad_();
  torch::Tensor v = torch::randn({4}).requires_grad_();
  FusedAdamW opt{std::vector<torch::Tensor>{w, v},
                 torch::optim::AdamWOptions(1e-2).weight_decay(0.1)};
  torch::Tensor loss() { return (torch::matmul(w, v) - 1).pow(2).sum(); }
};

}  // namespace

// An injected inf or NaN gradient skips the step: parameters stay bit-identical and the scale
// backs off. AdamW's state is untouched too: afterwards the run continues exactly like a run
// that never saw the bad steps (same moments, same step count for bias correction; the
// power-of-two scales make scaling and unscaling exact).
TEST(LossScaler, OverflowSkipsStepBitIdenticallyAndBacksOff) {
  torch::manual_seed(0);
  TinyProblem t;
  TinyProblem ref;
  {
    torch::NoGradGuard g;
    ref.w.copy_(t.w);
    ref.v.copy_(t.v);
  }
  LossScaler s(LossScaleConfig{}), s_ref(LossScaleConfig{});
  const std::vector<torch::Tensor> ps = {t.w, t.v}, ps_ref = {ref.w, ref.v};
  auto clean_step = [](TinyProblem& p, const std::vector<torch::Tensor>& params, LossScaler& sc) {
    p.opt.zero_grad();
    sc.scale(p.loss()).backward();
    return clip_and_step(p.opt, params, 1.0, &sc);
  };
  EXPECT_FALSE(clean_step(t, ps, s).skipped);  // AdamW has state from here on
  clean_step(ref, ps_ref, s_ref);
  for (float bad : {std::numeric_limits<float>::infinity(), std::nanf("")}) {
    const auto w0 = t.w.detach().clone(), v0 = t.v.detach().clone();
    const double scale0 = s.loss_scale();
    t.opt.zero_grad();
    s.scale(t.loss()).backward();
    t.w.grad()[3][1] = bad;
    StepOutcome o = clip_and_step(t.opt, ps, 1.0, &s);
    EXPECT_TRUE(o.skipped) << bad;
    EXPECT_TRUE(torch::equal(t.w, w0)) << bad;
    EXPECT_TRUE(torch::equal(t.v, v0)) << bad;
    EXPECT_EQ(s.loss_scale(), scale0 * 0.5) << bad;
  }
  EXPECT_EQ(s.skipped_steps(), 2);
  for (int i = 0; i < 3; ++i) {
    StepOutcome o = clean_step(t, ps, s);
    clean_step(ref, ps_ref, s_ref);
    EXPECT_FALSE(o.skipped);
    EXPECT_GT(o.grad_norm, 0.0);
  }
  EXPECT_TRUE(torch::equal(t.w, ref.w));
  EXPECT_TRUE(torch::equal(t.v, ref.v));
}

TEST(LossScaler, StateRoundTripAndBadState) {
  LossScaler a(small_config(2));
  for (bool o : {C, C, C, O, C}) a.update(o);
  LossScaler b(small_config(2));
  b.load_state(a.state(), "run/checkpoint-5");
  EXPECT_EQ(b.loss_scale(), a.loss_scale());
  EXPECT_EQ(b.growth_tracker(), a.growth_tracker());
  EXPECT_EQ(b.hysteresis_tracker(), a.hysteresis_tracker());
  EXPECT_EQ(b.skipped_steps(), 1);
  for (bool o : {C, C, O}) a.update(o), b.update(o);
  EXPECT_EQ(b.state(), a.state());
  try {
    b.load_state({1.0, 2.0}, "run/checkpoint-5");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(
        std::string(e.what()),
        "resume: 'run/checkpoint-5' holds no loss-scaler state (expected 5 values, version 1; "
        "got 2 values); was it saved by a run with precision.dtype fp16?");
  }
}

TEST(Precision, PolicyAndTrainableMustBeFp32) {
  PrecisionConfig p;
  p.dtype = DType::kBf16;
  EXPECT_EQ(make_precision_policy(p).compute, torch::kBFloat16);
  EXPECT_FALSE(make_precision_policy(p).loss_scaling);
  EXPECT_EQ(make_loss_scaler(p), nullptr);
  p.dtype = DType::kFp16;
  EXPECT_TRUE(make_precision_policy(p).loss_scaling);
  EXPECT_NE(make_loss_scaler(p), nullptr);
  ModelConfig c;
  c.vocab_size = 16, c.hidden_size = 8, c.intermediate_size = 16, c.num_hidden_layers = 1;
  c.num_attention_heads = 2, c.num_key_value_heads = 2, c.max_position_embeddings = 8;
  Transformer m(c);
  try {
    apply_precision(make_precision_policy(p), m, {{"w", torch::zeros({2}, torch::kHalf)}});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()),
              "precision fp16: trainable parameter 'w' is Half, expected fp32 master weights");
  }
  apply_precision(make_precision_policy(p), m, {});
  EXPECT_EQ(m->compute_dtype(), torch::kHalf);
  auto h = m->hidden(torch::randint(16, {2, 5}));
  EXPECT_EQ(h.scalar_type(), torch::kHalf);  // blocks and the final norm stay in fp16
  EXPECT_EQ(m->logits(h).scalar_type(), torch::kFloat);
}
