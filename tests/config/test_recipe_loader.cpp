// Recipe loading: every field read, defaults kept, and the exact text of each kind of
// problem report (unknown key with hint, wrong type, range, enum, cross-field, --set).
#include <gtest/gtest.h>

#include <filesystem>

#include "ptune/config/recipe_loader.h"
#include "ptune/core/error.h"
#include "test_util.h"

namespace ptune {
namespace {

// The smallest valid recipe; line 1 is "model:".
const char* kMinimal =
    "model:\n"
    "  path: out/base/final\n"
    "tokenizer:\n"
    "  path: tok.model\n"
    "data:\n"
    "  train:\n"
    "    path: data/x.txt\n";

// Loads `yaml` expecting a Usage error; returns its message.
std::string load_error(const std::string& yaml, const std::vector<std::string>& overrides = {}) {
  try {
    load_recipe_text(yaml, "r.yaml", overrides);
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Usage);
    return e.what();
  }
  ADD_FAILURE() << "recipe loaded without error";
  return "";
}

TEST(Recipe, FullRecipeLoadsEveryField) {
  const char* yaml = R"(
model:
  path: out/base/final
  arch: {vocab_size: 4096, hidden_size: 256, intermediate_size: 688, num_hidden_layers: 4,
         num_attention_heads: 8, num_key_value_heads: 4, head_dim: 32, max_position_embeddings: 512,
         rope_theta: 500000.0, rms_norm_eps: 1.0e-5, tie_word_embeddings: true,
         bos_token_id: 0, eos_token_id: 3, pad_token_id: 5,
         rope_scaling: {type: llama3, factor: 8.0, low_freq_factor: 1.5, high_freq_factor: 4.5,
                        original_max_position_embeddings: 8192}}
tokenizer: {path: tok.model, vocab_size: 2048, train_from: data/corpus.txt}
data:
  train: {path: data/x.jsonl, format: instruct, prompt_field: q, response_field: a, template: "Q: {prompt}\nA: "}
  eval:  {path: data/y.txt, format: tokens}
  seq_len: 128
  add_bos: false
  shuffle: false
method:
  type: lora
  lora: {r: 4, alpha: 8.0, dropout: 0.1, targets: [q_proj, k_proj], rslora: true, init: gaussian,
         layers: [0, 2], modules_to_save: [lm_head]}
  adapter: {bottleneck: 32, placement: [mlp], activation: gelu, dropout: 0.2}
  prefix: {virtual_tokens: 8, projection: false, projection_hidden: 128}
mtp: {style: parallel, heads: 2, loss_weight: 0.5, head_decay: 0.9, train_base: false}
precision: {dtype: bf16, loss_scale: {dynamic: false, init: 1024.0, growth_factor: 3.0, backoff_factor: 0.25, growth_interval: 100, hysteresis: 2, min_scale: 2.0, max_scale: 4096.0}}
optim: {lr: 1.0e-3, weight_decay: 0.01, betas: [0.8, 0.99], eps: 1.0e-6, grad_clip: 0.5, decay_norms_and_embeddings: true}
schedule: {kind: linear, warmup_steps: 5, min_lr_ratio: 0.0}
train: {steps: 30, batch_size: 2, grad_accum: 3, eval_every: 7, eval_batches: 4, save_every: 9, keep_last: 3, log_every: 2, seed: 42, threads: 1, device: auto}
output: {dir: out/run2, export: both, dtype: bf16}
)";
  Recipe r = load_recipe_text(yaml, "full.yaml");
  EXPECT_EQ(r.source, "full.yaml");
  EXPECT_EQ(r.model.path, "out/base/final");
  ASSERT_TRUE(r.model.has_arch);
  const ModelConfig& a = r.model.arch;
  EXPECT_EQ(a.vocab_size, 4096);
  EXPECT_EQ(a.hidden_size, 256);
  EXPECT_EQ(a.intermediate_size, 688);
  EXPECT_EQ(a.num_hidden_layers, 4);
  EXPECT_EQ(a.num_attention_heads, 8);
  EXPECT_EQ(a.num_key_value_heads, 4);
  EXPECT_EQ(a.head_dim, 32);
  EXPECT_EQ(a.max_position_embeddings, 512);
  EXPECT_EQ(a.rope_theta, 500000.0);
  EXPECT_EQ(a.rms_norm_eps, 1e-5);
  EXPECT_TRUE(a.tie_word_embeddings);
  EXPECT_EQ(a.bos_token_id, 0);
  EXPECT_EQ(a.eos_token_id, 3);
  EXPECT_EQ(a.pad_token_id, 5);
  EXPECT_EQ(a.rope_scaling.type, RopeType::kLlama3);
  EXPECT_EQ(a.rope_scaling.factor, 8.0);
  EXPECT_EQ(a.rope_scaling.low_freq_factor, 1.5);
  EXPECT_EQ(a.rope_scaling.high_freq_factor, 4.5);
  EXPECT_EQ(a.rope_scaling.original_max_position_embeddings, 8192);
  EXPECT_EQ(r.tokenizer.path, "tok.model");
  EXPECT_EQ(r.tokenizer.vocab_size, 2048);
  EXPECT_EQ(r.tokenizer.train_from, "data/corpus.txt");
  EXPECT_EQ(r.data.train.path, "data/x.jsonl");
  EXPECT_EQ(r.data.train.format, DataFormat::kInstruct);
  EXPECT_EQ(r.data.train.prompt_field, "q");
  EXPECT_EQ(r.data.train.response_field, "a");
  EXPECT_EQ(r.data.train.template_, "Q: {prompt}\nA: ");
  EXPECT_EQ(r.data.eval.path, "data/y.txt");
  EXPECT_EQ(r.data.eval.format, DataFormat::kTokens);
  EXPECT_EQ(r.data.seq_len, 128);
  EXPECT_FALSE(r.data.add_bos);
  EXPECT_FALSE(r.data.shuffle);
  EXPECT_EQ(r.method.type, MethodType::kLora);
  EXPECT_EQ(r.method.lora.r, 4);
  EXPECT_EQ(r.method.lora.alpha, 8.0);
  EXPECT_EQ(r.method.lora.dropout, 0.1);
  EXPECT_EQ(r.method.lora.targets, (std::vector<std::string>{"q_proj", "k_proj"}));
  EXPECT_TRUE(r.method.lora.rslora);
  EXPECT_EQ(r.method.lora.init, "gaussian");
  EXPECT_EQ(r.method.lora.layers, (std::vector<int64_t>{0, 2}));
  EXPECT_EQ(r.method.lora.modules_to_save, (std::vector<std::string>{"lm_head"}));
  EXPECT_EQ(r.method.adapter.bottleneck, 32);
  EXPECT_EQ(r.method.adapter.placement, (std::vector<std::string>{"mlp"}));
  EXPECT_EQ(r.method.adapter.activation, "gelu");
  EXPECT_EQ(r.method.adapter.dropout, 0.2);
  EXPECT_EQ(r.method.prefix.virtual_tokens, 8);
  EXPECT_FALSE(r.method.prefix.projection);
  EXPECT_EQ(r.method.prefix.projection_hidden, 128);
  EXPECT_EQ(r.mtp.style, MtpStyle::kParallel);
  EXPECT_EQ(r.mtp.heads, 2);
  EXPECT_EQ(r.mtp.loss_weight, 0.5);
  EXPECT_EQ(r.mtp.head_decay, 0.9);
  EXPECT_FALSE(r.mtp.train_base);
  EXPECT_EQ(r.precision.dtype, DType::kBf16);
  const LossScaleConfig& ls = r.precision.loss_scale;
  EXPECT_FALSE(ls.dynamic);
  EXPECT_EQ(ls.init, 1024.0);
  EXPECT_EQ(ls.growth_factor, 3.0);
  EXPECT_EQ(ls.backoff_factor, 0.25);
  EXPECT_EQ(ls.growth_interval, 100);
  EXPECT_EQ(ls.hysteresis, 2);
  EXPECT_EQ(ls.min_scale, 2.0);
  EXPECT_EQ(ls.max_scale, 4096.0);
  EXPECT_EQ(r.optim.lr, 1e-3);
  EXPECT_EQ(r.optim.weight_decay, 0.01);
  EXPECT_EQ(r.optim.beta1, 0.8);
  EXPECT_EQ(r.optim.beta2, 0.99);
  EXPECT_EQ(r.optim.eps, 1e-6);
  EXPECT_EQ(r.optim.grad_clip, 0.5);
  EXPECT_TRUE(r.optim.decay_norms_and_embeddings);
  EXPECT_EQ(r.schedule.kind, ScheduleKind::kLinear);
  EXPECT_EQ(r.schedule.warmup_steps, 5);
  EXPECT_EQ(r.schedule.min_lr_ratio, 0.0);
  EXPECT_EQ(r.train.steps, 30);
  EXPECT_EQ(r.train.batch_size, 2);
  EXPECT_EQ(r.train.grad_accum, 3);
  EXPECT_EQ(r.train.eval_every, 7);
  EXPECT_EQ(r.train.eval_batches, 4);
  EXPECT_EQ(r.train.save_every, 9);
  EXPECT_EQ(r.train.keep_last, 3);
  EXPECT_EQ(r.train.log_every, 2);
  EXPECT_EQ(r.train.seed, 42u);
  EXPECT_EQ(r.train.threads, 1);
  EXPECT_EQ(r.train.device, "auto");
  EXPECT_EQ(r.output.dir, "out/run2");
  EXPECT_EQ(r.output.export_, ExportMode::kBoth);
  EXPECT_EQ(r.output.dtype, DType::kBf16);

  // The resolved YAML reads back to the same recipe, and writes out identically again.
  std::string dumped = recipe_to_yaml(r);
  Recipe back = load_recipe_text(dumped, "dumped.yaml");
  EXPECT_EQ(recipe_to_yaml(back), dumped);
  EXPECT_EQ(back.data.train.template_, "Q: {prompt}\nA: ");
  EXPECT_EQ(back.optim.beta2, 0.99);
  EXPECT_EQ(back.model.arch.rope_scaling.original_max_position_embeddings, 8192);
  EXPECT_EQ(back.method.lora.layers, (std::vector<int64_t>{0, 2}));
  EXPECT_TRUE(back.model.has_arch);
}

TEST(Recipe, MissingKeysKeepDefaults) {
  Recipe r = load_recipe_text(kMinimal, "min.yaml");
  Recipe d;
  EXPECT_FALSE(r.model.has_arch);
  EXPECT_EQ(r.model.arch.vocab_size, 0);  // recipe default: from the tokenizer
  EXPECT_EQ(r.tokenizer.vocab_size, d.tokenizer.vocab_size);
  EXPECT_EQ(r.tokenizer.train_from, "");
  EXPECT_EQ(r.data.train.format, DataFormat::kText);
  EXPECT_EQ(r.data.eval.path, "");
  EXPECT_EQ(r.data.seq_len, 256);
  EXPECT_EQ(r.method.type, MethodType::kFull);
  EXPECT_EQ(r.method.lora.targets, d.method.lora.targets);
  EXPECT_EQ(r.method.adapter.placement, d.method.adapter.placement);
  EXPECT_EQ(r.mtp.style, MtpStyle::kNone);
  EXPECT_EQ(r.precision.loss_scale.max_scale, 16777216.0);
  EXPECT_EQ(r.optim.lr, 3e-4);
  EXPECT_EQ(r.optim.beta1, 0.9);
  EXPECT_EQ(r.optim.beta2, 0.95);
  EXPECT_EQ(r.schedule.kind, ScheduleKind::kCosine);
  EXPECT_EQ(r.train.steps, 200);
  EXPECT_EQ(r.train.device, "cpu");
  EXPECT_EQ(r.output.dir, "out/run");
  EXPECT_EQ(r.output.export_, ExportMode::kByMethod);

  // Arch with vocab_size left out: from the tokenizer later, and not a problem.
  Recipe s = load_recipe_text(
      "model:\n  arch: {hidden_size: 64, intermediate_size: 172, num_hidden_layers: 2,\n"
      "         num_attention_heads: 4, num_key_value_heads: 2}\n"
      "tokenizer: {path: t.model}\ndata: {train: {path: x.txt}}\n",
      "s.yaml");
  EXPECT_TRUE(s.model.has_arch);
  EXPECT_EQ(s.model.arch.vocab_size, 0);
  EXPECT_EQ(s.model.arch.max_position_embeddings, 2048);
  // A resolved recipe without arch reads back without one.
  EXPECT_FALSE(load_recipe_text(recipe_to_yaml(r), "d.yaml").model.has_arch);
}

TEST(Recipe, UnknownKeyHintsTheNearestKey) {
  EXPECT_EQ(load_error(std::string(kMinimal) + "train:\n  stpes: 5\n"),
            "recipe r.yaml has 1 problem:\n"
            "  train.stpes: unknown key (r.yaml:9); did you mean steps?");
  // A key that belongs in another section points there.
  EXPECT_EQ(load_error(std::string(kMinimal) + "train:\n  steps: 5\n  lr: 0.1\n"),
            "recipe r.yaml has 1 problem:\n"
            "  train.lr: unknown key (r.yaml:10); did you mean optim.lr?");
  // Nothing close: no hint.
  EXPECT_EQ(load_error(std::string(kMinimal) + "wandb: {project: x}\n"),
            "recipe r.yaml has 1 problem:\n"
            "  wandb: unknown key (r.yaml:8)");
}

TEST(Recipe, WrongTypesSayExpectedAndGot) {
  EXPECT_EQ(load_error(std::string(kMinimal) + "train:\n  steps: abc\n  add_bos: 3\n"
                                               "optim:\n  betas: 0.9\n"),
            "recipe r.yaml has 3 problems:\n"
            "  train.steps: expected an integer, got 'abc' (r.yaml:9)\n"
            "  train.add_bos: unknown key (r.yaml:10); did you mean data.add_bos?\n"
            "  optim.betas: expected a list of 2 numbers, got '0.9' (r.yaml:12)");
  EXPECT_EQ(load_error(std::string(kMinimal) + "optim: {betas: [0.9, 0.95, 0.99], lr: fast}\n"
                                               "method: lora\n"),
            "recipe r.yaml has 3 problems:\n"
            "  optim.lr: expected a number, got 'fast' (r.yaml:8)\n"
            "  optim.betas: expected a list of 2 numbers, got a list of 3 (r.yaml:8)\n"
            "  method: expected a map, got 'lora' (r.yaml:9)");
}

TEST(Recipe, OutOfRangeAndEnumValues) {
  EXPECT_EQ(load_error(std::string(kMinimal) +
                       "method:\n  type: lora2\n  lora:\n    r: 0\n    targets: [q_proj, qkv]\n"
                       "optim: {betas: [0.9, 1.0]}\n"
                       "schedule: {min_lr_ratio: 1.5}\n"),
            "recipe r.yaml has 5 problems:\n"
            "  method.type: expected one of full, lora, adapter, prefix, got 'lora2' (r.yaml:9)\n"
            "  method.lora.r: must be > 0, got 0 (r.yaml:11)\n"
            "  method.lora.targets[1]: expected one of q_proj, k_proj, v_proj, o_proj, gate_proj, "
            "up_proj, down_proj, all-linear, got 'qkv' (r.yaml:12)\n"
            "  optim.betas[1]: must be in [0, 1), got 1 (r.yaml:13)\n"
            "  schedule.min_lr_ratio: must be in [0, 1], got 1.5 (r.yaml:14)");
  EXPECT_EQ(
      load_error(std::string(kMinimal) +
                 "precision:\n  dtype: fp8\n  loss_scale: {init: 0.5, backoff_factor: 1.0}\n"
                 "output: {dir: '', export: lora}\n"),
      "recipe r.yaml has 5 problems:\n"
      "  precision.dtype: expected one of auto, fp32, bf16, fp16, got 'fp8' (r.yaml:9)\n"
      "  precision.loss_scale.backoff_factor: must be in (0, 1), got 1 (r.yaml:10)\n"
      "  precision.loss_scale.init: must be between min_scale (1) and max_scale (16777216), "
      "got 0.5 (r.yaml:10)\n"
      "  output.export: expected one of merged, adapter, both (or empty), got 'lora' (r.yaml:11)\n"
      "  output.dir: required: the run's output directory (r.yaml:11)");
}

TEST(Recipe, AllProblemsListedWithTheirLines) {
  const char* yaml =
      "model:\n"                        // 1
      "  arch:\n"                       // 2
      "    hidden_size: 64\n"           // 3
      "    num_attention_heads: 4\n"    // 4
      "    num_key_value_heads: 3\n"    // 5
      "tokenizer: {vocab_size: 512}\n"  // 6
      "data:\n"                         // 7
      "  train: {format: text}\n"       // 8
      "  seq_len: 1\n"                  // 9
      "train:\n"                        // 10
      "  steps: 0\n"                    // 11
      "  device: gpu\n";                // 12
  EXPECT_EQ(load_error(yaml),
            "recipe r.yaml has 6 problems:\n"
            "  model.arch.num_key_value_heads: num_attention_heads (4) must be a multiple of "
            "num_key_value_heads (3) (r.yaml:5)\n"
            "  tokenizer.path: required: a tokenizer.json, a SentencePiece .model or a model "
            "directory (r.yaml:6)\n"
            "  data.train.path: required: the training data file (r.yaml:8)\n"
            "  data.seq_len: must be > 1, got 1 (r.yaml:9)\n"
            "  train.steps: must be > 0, got 0 (r.yaml:11)\n"
            "  train.device: expected one of cpu, cuda, auto, got 'gpu' (r.yaml:12)");
}

TEST(Recipe, SizesBeyondWhatCanBeIndexedNameTheLimit) {
  const char* yaml =
      "model:\n"                                                                   // 1
      "  arch: {hidden_size: 64, intermediate_size: 172, num_hidden_layers: 2,\n"  // 2
      "         num_attention_heads: 4, num_key_value_heads: 2, vocab_size: 4294967296}\n"
      "tokenizer: {path: t.model, vocab_size: 4294967296}\n"        // 4
      "data: {train: {path: x.txt}, seq_len: 32}\n"                 // 5
      "method: {lora: {r: 4294967296}}\n"                           // 6
      "mtp: {style: parallel, heads: 40}\n"                         // 7
      "train: {batch_size: 1000000000000, threads: 4294967296}\n";  // 8
  EXPECT_EQ(
      load_error(yaml),
      "recipe r.yaml has 6 problems:\n"
      "  model.arch.vocab_size: must be <= 2147483647, got 4294967296 (r.yaml:3); token ids "
      "are int32\n"
      "  tokenizer.vocab_size: must be <= 2147483647, got 4294967296 (r.yaml:4); token ids are "
      "int32\n"
      "  method.lora.r: must be <= 2147483647, got 4294967296 (r.yaml:6); it is a GEMM "
      "dimension, which BLAS takes as a 32-bit int\n"
      "  mtp.heads: must be <= 31, got 40 (r.yaml:7); head k predicts the token k + 1 places "
      "ahead, which a window of data.seq_len (32) tokens holds only for k < 32\n"
      "  train.batch_size: must be <= 67108863, got 1000000000000 (r.yaml:8); batch_size * "
      "data.seq_len (32) tokens are the rows of every projection's GEMM, which BLAS counts in "
      "a 32-bit int\n"
      "  train.threads: must be <= 2147483647, got 4294967296 (r.yaml:8); the thread count is "
      "an int");

  // Positions: RoPE angles come from fp32 positions; prefix tokens come before the sequence.
  EXPECT_EQ(
      load_error("model:\n"
                 "  arch: {hidden_size: 4294967296, intermediate_size: 172, num_hidden_layers: 2,\n"
                 "         num_attention_heads: 4, num_key_value_heads: 2, "
                 "max_position_embeddings: 33554432}\n"
                 "tokenizer: {path: t.model}\n"
                 "data: {train: {path: x.txt}, seq_len: 33554432}\n"),
      "recipe r.yaml has 3 problems:\n"
      "  model.arch.hidden_size: must be <= 2147483647, got 4294967296 (r.yaml:2); it is a "
      "GEMM dimension, which BLAS takes as a 32-bit int\n"
      "  model.arch.max_position_embeddings: must be <= 16777216, got 33554432 (r.yaml:3); "
      "RoPE positions are fp32, whose integers are exact only up to 2^24\n"
      "  data.seq_len: must be <= 16777216, got 33554432 (r.yaml:5); RoPE positions are fp32, "
      "whose integers are exact only up to 2^24");
  EXPECT_EQ(
      load_error(kMinimal,
                 {"data.seq_len=1024", "method.type=prefix",
                  "method.prefix.virtual_tokens=16777000", "model.arch.head_dim=1073741824"}),
      "recipe r.yaml has 2 problems:\n"
      "  method.prefix.virtual_tokens: must be <= 16776192, got 16777000 (--set "
      "method.prefix.virtual_tokens=16777000); the sequence's data.seq_len (1024) positions "
      "follow the virtual tokens', and RoPE positions are fp32, whose integers are exact only "
      "up to 2^24\n"
      "  model.arch.head_dim: must be <= 67108863, got 1073741824 (--set "
      "model.arch.head_dim=1073741824); num_attention_heads (32) * head_dim is q_proj's output "
      "width, and it is a GEMM dimension, which BLAS takes as a 32-bit int");

  // Tokens seen over the run are counted in an int64.
  EXPECT_EQ(load_error(kMinimal,
                       {"data.seq_len=1024", "train.batch_size=1024", "train.steps=9000000000000"}),
            "recipe r.yaml has 1 problem:\n"
            "  train.steps: must be <= 8796093022207, got 9000000000000 (--set "
            "train.steps=9000000000000); tokens seen, steps * grad_accum * batch_size * "
            "data.seq_len, are counted in an int64");
}

TEST(Recipe, ModelNeedsPathOrArch) {
  EXPECT_EQ(load_error("tokenizer: {path: t.model}\ndata: {train: {path: x.txt}}\n"),
            "recipe r.yaml has 1 problem:\n"
            "  model: needs path (a checkpoint directory) or arch (to train from scratch), got "
            "neither (r.yaml:1)");
}

TEST(Recipe, SyntaxErrorNamesFileAndLine) {
  EXPECT_EQ(load_error("model:\n  path: x\ndata: {train: [a\n"),
            "r.yaml:4: YAML syntax error: end of sequence flow not found");
  EXPECT_EQ(load_error("- a\n- b\n"),
            "recipe r.yaml has 1 problem:\n"
            "  recipe: expected a map of sections (model, tokenizer, data, ...), got a list of 2 "
            "(r.yaml:1)");
}

TEST(Recipe, MissingFile) {
  try {
    load_recipe("no/such/recipe.yaml");
    FAIL() << "loaded a missing file";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Usage);
    EXPECT_STREQ(e.what(), "recipe: cannot read 'no/such/recipe.yaml': No such file or directory");
  }
}

TEST(Recipe, ActivationCheckpointingIsABooleanOrEveryNBlocks) {
  auto every = [](const std::string& v) {
    return load_recipe_text(
               std::string(kMinimal) + "train: {activation_checkpointing: " + v + "}\n", "r.yaml")
        .train.activation_checkpointing;
  };
  EXPECT_EQ(every("true"), 1);
  EXPECT_EQ(every("false"), 0);
  EXPECT_EQ(every("3"), 3);
  EXPECT_EQ(load_recipe_text(kMinimal, "r.yaml").train.activation_checkpointing, 0);
  EXPECT_EQ(load_error(std::string(kMinimal) + "train: {activation_checkpointing: always}\n"),
            "recipe r.yaml has 1 problem:\n"
            "  train.activation_checkpointing: expected true, false or a non-negative integer, "
            "got 'always' (r.yaml:8)");
  EXPECT_EQ(load_error(kMinimal, {"train.activation_checkpointing=-2"}),
            "recipe r.yaml has 1 problem:\n"
            "  train.activation_checkpointing: must be >= 0, got -2 "
            "(--set train.activation_checkpointing=-2)");
}

TEST(Recipe, OverridesAreAppliedAndValidated) {
  Recipe r = load_recipe_text(
      kMinimal, "r.yaml",
      {"optim.lr=1e-4", "optim.betas=[0.9,0.99]", "method.lora.targets=[q_proj,v_proj,o_proj]",
       "method.type=lora", "model.arch.hidden_size=64", "output.export="});
  EXPECT_EQ(r.optim.lr, 1e-4);
  EXPECT_EQ(r.optim.beta2, 0.99);
  EXPECT_EQ(r.method.type, MethodType::kLora);
  EXPECT_EQ(r.method.lora.targets, (std::vector<std::string>{"q_proj", "v_proj", "o_proj"}));
  EXPECT_TRUE(r.model.has_arch);  // created by the override
  EXPECT_EQ(r.model.arch.hidden_size, 64);
  EXPECT_EQ(r.output.export_, ExportMode::kByMethod);

  EXPECT_EQ(
      load_error(kMinimal, {"train.lr=3e-4", "train.steps=abc", "optim.betas=[0.9]",
                            "trian.steps=5", "steps", "method.lora.r=0"}),
      "recipe r.yaml has 6 problems:\n"
      "  train.lr: unknown key (--set train.lr=3e-4); did you mean optim.lr?\n"
      "  train.steps: expected an integer, got 'abc' (--set train.steps=abc)\n"
      "  optim.betas: expected a list of 2 numbers, got a list of 1 (--set optim.betas=[0.9])\n"
      "  trian: unknown key (--set trian.steps=5); did you mean train?\n"
      "  steps: expected key.path=value, got no '=' (--set steps)\n"
      "  method.lora.r: must be > 0, got 0 (--set method.lora.r=0)");
}

TEST(Recipe, RoundTripOfDefaults) {
  Recipe r =
      load_recipe_text(kMinimal, "r.yaml", {"data.train.template=\"{prompt}: \"", "train.seed=7"});
  std::string dumped = recipe_to_yaml(r);
  EXPECT_NE(dumped.find("betas: [0.9, 0.95]"), std::string::npos) << dumped;
  EXPECT_NE(dumped.find("lr: 0.0003"), std::string::npos) << dumped;
  Recipe back = load_recipe_text(dumped, "dumped.yaml");
  EXPECT_EQ(recipe_to_yaml(back), dumped);
  EXPECT_EQ(back.data.train.template_, "{prompt}: ");
  EXPECT_EQ(back.train.seed, 7u);
  EXPECT_EQ(back.output.export_, ExportMode::kByMethod);
  EXPECT_EQ(back.optim.eps, 1e-8);

  // Strings that YAML would otherwise read as null, numbers, or comments survive the trip.
  Recipe odd = load_recipe_text(
      "model: {path: '~'}\ntokenizer: {path: 'null'}\n"
      "data: {train: {path: '123', prompt_field: 'a: b #c', response_field: \"'quoted'\"}}\n",
      "odd.yaml");
  Recipe odd_back = load_recipe_text(recipe_to_yaml(odd), "odd2.yaml");
  EXPECT_EQ(odd_back.model.path, "~");
  EXPECT_EQ(odd_back.tokenizer.path, "null");
  EXPECT_EQ(odd_back.data.train.path, "123");
  EXPECT_EQ(odd_back.data.train.prompt_field, "a: b #c");
  EXPECT_EQ(odd_back.data.train.response_field, "'quoted'");
}

TEST(Recipe, ShippedConfigsLoad) {
  namespace fs = std::filesystem;
  int n = 0;
  for (const auto& entry : fs::directory_iterator(fs::path(PTUNE_SOURCE_DIR) / "configs")) {
    if (entry.path().extension() != ".yaml") continue;
    SCOPED_TRACE(entry.path().string());
    EXPECT_NO_THROW(load_recipe(entry.path().string()));
    ++n;
  }
  EXPECT_GE(n, 1);
  Recipe tiny = load_recipe(std::string(PTUNE_SOURCE_DIR) + "/configs/tiny_full.yaml");
  EXPECT_EQ(tiny.model.arch.hidden_size, 64);
  EXPECT_EQ(tiny.model.arch.vocab_size, 0);
  EXPECT_EQ(tiny.tokenizer.vocab_size, 512);
  EXPECT_EQ(tiny.data.eval.path, "data/wordnet/corpus_eval.txt");
}

}  // namespace
}  // namespace ptune
