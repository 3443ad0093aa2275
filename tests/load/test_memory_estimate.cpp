// Memory estimate: parameter counts from configs equal the built models' for every method and
// MTP style, the estimate's terms follow its formula, and a run that cannot fit is refused with
// "needs about X GB, this machine has Y GB".
#include <gtest/gtest.h>

#include "error_helpers.h"
#include "ptune/load/memory_estimate.h"
#include "ptune/mtp/loss.h"
#include "ptune/peft/method.h"
#include "tiny_run.h"

namespace ptune {
namespace {

ParamCount built(const ModelConfig& c, const MethodConfig& m, const MtpConfig& mtp) {
  auto method = make_method(m, c);
  Transformer model(c, method->builder());
  method->attach(model);
  NamedTensors trainable = method->trainable(model);
  auto objective = make_mtp_objective(mtp, model, trainable);
  ParamCount n;
  for (const auto& p : model->parameters()) n.total += p.numel();
  if (objective)
    for (const auto& p : objective->heads()->parameters()) n.total += p.numel();
  for (const auto& [_, p] : trainable) n.trainable += p.numel();
  return n;
}

TEST(MemoryEstimate, ParameterCountsMatchTheBuiltModels) {
  const ModelConfig c = test::tiny_model_config(64);
  std::vector<std::pair<std::string, MethodConfig>> methods;
  methods.emplace_back("full", MethodConfig{});
  MethodConfig lora;
  lora.type = MethodType::kLora;
  lora.lora.r = 4;
  lora.lora.targets = {"all-linear"};
  lora.lora.layers = {1, 7};  // 7 is past the model's 2 layers: wraps nothing
  lora.lora.modules_to_save = {"lm_head"};
  methods.emplace_back("lora all-linear", lora);
  lora.lora.targets = {"q_proj", "down_proj"};
  lora.lora.layers.clear();
  lora.lora.modules_to_save.clear();
  methods.emplace_back("lora q, down", lora);
  MethodConfig adapter;
  adapter.type = MethodType::kAdapter;
  adapter.adapter.bottleneck = 8;
  methods.emplace_back("adapter", adapter);
  MethodConfig prefix;
  prefix.type = MethodType::kPrefix;
  prefix.prefix.virtual_tokens = 5;
  prefix.prefix.projection_hidden = 24;
  methods.emplace_back("prefix projected", prefix);
  prefix.prefix.projection = false;
  methods.emplace_back("prefix", prefix);

  std::vector<MtpConfig> mtps(1);
  for (const MtpStyle style : {MtpStyle::kParallel, MtpStyle::kSequential})
    for (bool train_base : {true, false}) {
      MtpConfig m;
      m.style = style;
      m.heads = 2;
      m.train_base = train_base;
      mtps.push_back(m);
    }
  for (const auto& [name, m] : methods)
    for (const MtpConfig& mtp : mtps) {
      SCOPED_TRACE(name + ", mtp " + name_of(mtp.style) + (mtp.train_base ? "" : " (frozen base)"));
      const ParamCount expected = built(c, m, mtp), got = count_training_params(c, m, mtp);
      EXPECT_EQ(got.total, expected.total);
      EXPECT_EQ(got.trainable, expected.trainable);
    }
}

TEST(MemoryEstimate, TermsFollowTheFormula) {
  const ModelConfig c =
      test::tiny_model_config(64);  // d 32, I 48, 4 heads of 8, 2 kv heads, 2 layers
  const double N = parameter_count(c), rope = 8.0 * 64 * 8;
  const MemoryNeeds full = training_memory(c, MethodConfig{}, MtpConfig{}, 2, 16, 3, DType::kFp32);
  EXPECT_EQ(full.weights, 4 * N + rope);
  EXPECT_EQ(full.optimizer, 12 * N);
  // Per layer: the projections' inputs and outputs, and attention's fp32 log-sum-exp per head
  // and position (no T x T scores).
  const double tokens = 2 * 16, tensors = tokens * (4 * 32 + 2 * 32 + 2 * 16 + 3 * 48),
               lse = tokens * 4 * 4, per_layer = tensors * 4 + lse;
  EXPECT_EQ(full.activations, 2 * per_layer + 8 * tokens * 64);
  EXPECT_EQ(full.data, 16 * tokens * 3);
  // bf16 halves the activations kept per layer, not the fp32 logits or log-sum-exp.
  const MemoryNeeds bf16 = training_memory(c, MethodConfig{}, MtpConfig{}, 2, 16, 3, DType::kBf16);
  EXPECT_EQ(bf16.activations, 2 * (tensors * 2 + lse) + 8 * tokens * 64);
  // Checkpointing every block keeps each block's input, plus one block's activations.
  const MemoryNeeds recomputed =
      training_memory(c, MethodConfig{}, MtpConfig{}, 2, 16, 3, DType::kFp32, 0, 1);
  EXPECT_EQ(recomputed.activations, 2 * tokens * 32 * 4 + per_layer + 8 * tokens * 64);
  // Every second block: block 0 recomputed, block 1 kept.
  const MemoryNeeds half =
      training_memory(c, MethodConfig{}, MtpConfig{}, 2, 16, 3, DType::kFp32, 0, 2);
  EXPECT_EQ(half.activations, tokens * 32 * 4 + 2 * per_layer + 8 * tokens * 64);

  const MemoryNeeds gen = inference_memory(c, 1, 1, 100);
  EXPECT_EQ(gen.weights, 4 * N + rope);
  EXPECT_EQ(gen.optimizer, 0);
  EXPECT_EQ(gen.cache, 2.0 * 2 * 16 * 100 * 4);
}

TEST(MemoryEstimate, ProblemSaysNeededAndAvailable) {
  const double GB = 1024.0 * 1024 * 1024;
  MemoryNeeds n;
  n.weights = 30 * GB;
  n.optimizer = 90 * GB;
  n.activations = 0.25 * GB;
  EXPECT_EQ(memory_problem(n, 200 * GB), "");
  EXPECT_EQ(memory_problem(n, 15.5 * GB),
            "needs about 120 GB, this machine has 15.5 GB (weights 30.0 GB, gradients and AdamW "
            "moments 90.0 GB, activations 0.25 GB)");
}

TEST(MemoryEstimate, CheckRefusesWhatThisMachineCannotHold) {
  EXPECT_GT(machine_memory_bytes(), 0);
  ModelConfig huge = test::tiny_model_config(64);
  huge.hidden_size = 1000000;  // 4 heads of 250000: within every index limit, 30 TB of weights
  validate(huge);
  const std::string msg = test::error_of(
      [&] { check_memory(inference_memory(huge), torch::kCPU, "eval", "use a smaller model"); });
  EXPECT_EQ(msg.rfind("eval: needs about ", 0), 0u) << msg;
  EXPECT_CONTAINS(msg, " GB, this machine has ");
  EXPECT_CONTAINS(msg, "; use a smaller model");
  EXPECT_NO_THROW(
      check_memory(inference_memory(test::tiny_model_config(64)), torch::kCPU, "eval", ""));
}

}  // namespace
}  // namespace ptune
