// Unit tests of the PEFT methods: fresh LoRA / adapter / zero-length prefix give the base
// logits exactly; merged == unmerged LoRA; N optimizer steps leave every frozen tensor
// bit-identical and change every trainable one; PEFT key names, shapes and config fields;
// export -> load gives the same logits; export-mode rules.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "error_helpers.h"
#include "ptune/config/recipe.h"
#include "ptune/core/error.h"
#include "ptune/io/adapter_config.h"
#include "ptune/io/checkpoint.h"
#include "ptune/io/weights.h"
#include "ptune/model/loss.h"
#include "ptune/peft/lora.h"
#include "ptune/peft/lora_targets.h"
#include "ptune/peft/peft_model.h"
#include "ptune/peft/prefix.h"
#include "ptune/train/optimizer.h"
#include "test_util.h"
#include "tiny_run.h"

namespace ptune {
namespace {

ModelConfig tiny_config() {
  return test::tiny_model_config(64);
}

// A random base checkpoint in `dir`.
void write_base(const std::string& dir, const ModelConfig& c) {
  torch::manual_seed(7);
  Transformer base(c);
  save_checkpoint_dir(dir, c, model_state(*base));
}

// The base in `dir` built and attached the way `method` wires it.
Transformer build(Method& method, const std::string& dir) {
  Transformer m(read_checkpoint_config(dir), method.builder());
  load_weights(*m, CheckpointWeights::open(dir), true, method.own_params(m));
  method.attach(m);
  m->eval();
  return m;
}

torch::Tensor ids() {
  torch::manual_seed(3);
  return torch::randint(64, {2, 9}, torch::kLong);
}

torch::Tensor logits(Transformer& m, Method& method) {
  torch::NoGradGuard g;
  return m->forward(ids());
}

void fs_mkdir(const std::string& d) {
  std::filesystem::create_directories(d);
}

void randomize_trainable(Method& method, Transformer& m) {
  torch::NoGradGuard g;
  for (auto& [_, p] : method.trainable(m)) p.normal_(0.0, 0.1);
}

MethodConfig lora_cfg(std::vector<std::string> targets = {"all-linear"}) {
  MethodConfig mc;
  mc.type = MethodType::kLora;
  mc.lora.r = 4;
  mc.lora.alpha = 8;
  mc.lora.targets = std::move(targets);
  return mc;
}

class Peft : public ::testing::Test {
 protected:
  void SetUp() override { write_base(dir / "base", c); }
  ModelConfig c = tiny_config();
  test::TempDir dir;
  std::string base() const { return dir / "base"; }
};

TEST_F(Peft, FreshMethodsGiveTheBaseLogitsExactly) {
  FullMethod full;
  Transformer plain = build(full, base());
  const auto ref = logits(plain, full);
  MethodConfig adapter;
  adapter.type = MethodType::kAdapter;
  MethodConfig prefix;
  prefix.type = MethodType::kPrefix;
  prefix.prefix.virtual_tokens = 0;
  for (const MethodConfig& mc : {lora_cfg(), adapter, prefix}) {
    auto method = make_method(mc, c);
    Transformer m = build(*method, base());
    EXPECT_TRUE(torch::equal(logits(m, *method), ref)) << mc.type;
  }
}

TEST_F(Peft, LoraOnlyTrainsItsOwnParametersAndFrozenBaseIsBitIdentical) {
  MethodConfig mc = lora_cfg({"q_proj", "v_proj"});
  mc.lora.layers = {1};
  mc.lora.dropout = 0.1;
  mc.lora.modules_to_save = {"lm_head"};
  auto method = make_method(mc, c);
  Transformer m = build(*method, base());
  std::vector<std::string> names;
  for (auto& [name, _] : method->trainable(m)) names.push_back(name);
  EXPECT_EQ(names, (std::vector<std::string>{"model.layers.1.self_attn.q_proj.lora_A.weight",
                                             "model.layers.1.self_attn.q_proj.lora_B.weight",
                                             "model.layers.1.self_attn.v_proj.lora_A.weight",
                                             "model.layers.1.self_attn.v_proj.lora_B.weight",
                                             "lm_head.weight"}));
  std::map<std::string, torch::Tensor> before;
  for (auto& p : m->named_parameters()) before[p.key()] = p.value().detach().clone();
  OptimConfig oc;
  oc.lr = 1e-2;
  oc.weight_decay = 0.1;
  auto opt = make_adamw(oc, method->trainable(m));
  m->train();
  for (int step = 0; step < 3; ++step) {
    opt->zero_grad();
    auto x = ids();
    lm_loss(m->forward(x), x).backward();
    opt->step();
  }
  size_t frozen = 0;
  for (auto& p : m->named_parameters()) {
    const bool trains = p.value().requires_grad();
    EXPECT_EQ(torch::equal(p.value(), before[p.key()]), !trains) << p.key();
    if (!trains) {
      EXPECT_FALSE(p.value().grad().defined()) << p.key();
    }
    frozen += !trains;
  }
  EXPECT_EQ(frozen, m->named_parameters().size() - 5);
  // Optimizer state exists only for the trainable tensors.
  size_t state = 0;
  for (auto& g : opt->param_groups()) state += g.params().size();
  EXPECT_EQ(state, 5u);
}

TEST_F(Peft, MergedAndUnmergedLoraGiveTheSameLogits) {
  for (bool rslora : {false, true}) {
    MethodConfig mc = lora_cfg();
    mc.lora.rslora = rslora;
    auto method = make_method(mc, c);
    Transformer m = build(*method, base());
    randomize_trainable(*method, m);
    const auto unmerged = logits(m, *method);
    save_checkpoint_dir(dir / "merged", c, method->merged_weights(m));
    FullMethod full;
    Transformer merged = build(full, dir / "merged");
    EXPECT_LE(test::max_abs_diff(logits(merged, full), unmerged), 1e-5) << "rslora " << rslora;
    FullMethod f2;
    Transformer plain = build(f2, base());
    EXPECT_GT(test::max_abs_diff(logits(plain, f2), unmerged), 1e-3);  // the adapter does something
  }
}

TEST_F(Peft, LoraBaseCanBeStoredInBf16) {
  MethodConfig mc = lora_cfg({"q_proj"});
  mc.lora.base_dtype = DType::kBf16;
  auto method = make_method(mc, c);
  Transformer m = build(*method, base());
  auto params = m->named_parameters();
  EXPECT_EQ(params["model.layers.0.self_attn.q_proj.weight"].scalar_type(), torch::kBFloat16);
  EXPECT_EQ(params["model.layers.0.mlp.down_proj.weight"].scalar_type(), torch::kBFloat16);
  EXPECT_EQ(params["model.layers.0.self_attn.q_proj.lora_A.weight"].scalar_type(), torch::kFloat);
  EXPECT_EQ(params["model.embed_tokens.weight"].scalar_type(), torch::kFloat);
  FullMethod full;
  Transformer plain = build(full, base());
  EXPECT_LE(test::max_abs_diff(logits(m, *method), logits(plain, full)), 0.05);
  for (auto& [name, t] : method->merged_weights(m))
    EXPECT_EQ(t.scalar_type(), torch::kFloat) << name;
}

TEST_F(Peft, LoraExportHasPeftKeysShapesAndConfig) {
  MethodConfig mc = lora_cfg({"q_proj", "v_proj"});
  mc.lora.rslora = true;
  auto method = make_method(mc, c);
  Transformer m = build(*method, base());
  randomize_trainable(*method, m);
  fs_mkdir(dir / "ad");
  method->export_adapter(m, dir / "ad", "out/base/final");
  auto j = nlohmann::json::parse(test::read_text(dir / "ad/adapter_config.json"));
  EXPECT_EQ(j["peft_type"], "LORA");
  EXPECT_EQ(j["r"], 4);
  EXPECT_EQ(j["lora_alpha"], 8.0);
  EXPECT_EQ(j["target_modules"], nlohmann::json({"q_proj", "v_proj"}));
  EXPECT_EQ(j["use_rslora"], true);
  EXPECT_EQ(j["bias"], "none");
  EXPECT_EQ(j["task_type"], "CAUSAL_LM");
  EXPECT_EQ(j["fan_in_fan_out"], false);
  EXPECT_EQ(j["base_model_name_or_path"], "out/base/final");
  auto st = SafetensorsFile::open(dir / "ad/adapter_model.safetensors");
  ASSERT_EQ(st->tensors().size(), 8u);
  EXPECT_EQ(st->info("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight").shape,
            (std::vector<int64_t>{4, 32}));
  EXPECT_EQ(st->info("base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight").shape,
            (std::vector<int64_t>{16, 4}));  // v_proj out = 2 kv heads * head_dim 8

  PeftModel pm = load_with_adapter(base(), dir / "ad");
  EXPECT_LE(test::max_abs_diff(logits(pm.model, *pm.method), logits(m, *method)), 1e-6);

  // An r in adapter_config.json that the tensors do not have stops before the model is built
  // with it (here 10^12, which would not fit).
  j["r"] = 1000000000000;
  test::write_text(dir / "ad/adapter_config.json", j.dump());
  try {
    load_with_adapter(base(), dir / "ad");
    ADD_FAILURE() << "loaded an adapter whose r does not match its tensors";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Usage);
    EXPECT_EQ(std::string(e.what()),
              dir /
                  "ad/adapter_config.json: r is 1000000000000, but adapter key "
                  "'base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight' has shape [4, "
                  "32] (rank 4)");
  }
}

TEST_F(Peft, PrefixExportIsPeftPromptEmbeddings) {
  MethodConfig mc;
  mc.type = MethodType::kPrefix;
  mc.prefix.virtual_tokens = 5;
  mc.prefix.projection_hidden = 24;
  auto method = make_method(mc, c);
  Transformer m = build(*method, base());
  std::vector<std::string> names;
  for (auto& [name, _] : method->trainable(m)) names.push_back(name);
  EXPECT_EQ(names, (std::vector<std::string>{
                       "prefix_encoder.embedding.weight", "prefix_encoder.transform.0.weight",
                       "prefix_encoder.transform.0.bias", "prefix_encoder.transform.2.weight",
                       "prefix_encoder.transform.2.bias"}));
  fs_mkdir(dir / "ad");
  method->export_adapter(m, dir / "ad", "b");
  auto st = SafetensorsFile::open(dir / "ad/adapter_model.safetensors");
  ASSERT_EQ(st->tensors().size(), 1u);
  // [virtual tokens, layers 2 * 2 * kv heads 2 * head_dim 8]
  EXPECT_EQ(st->info("prompt_embeddings").shape, (std::vector<int64_t>{5, 64}));
  auto j = nlohmann::json::parse(test::read_text(dir / "ad/adapter_config.json"));
  EXPECT_EQ(j["peft_type"], "PREFIX_TUNING");
  EXPECT_EQ(j["num_virtual_tokens"], 5);
  EXPECT_EQ(j["token_dim"], 16);
  EXPECT_EQ(j["num_attention_heads"], 2);
  EXPECT_EQ(j["num_layers"], 2);
  EXPECT_EQ(j["prefix_projection"], true);
  EXPECT_EQ(j["encoder_hidden_size"], 24);
  PeftModel pm = load_with_adapter(base(), dir / "ad");
  EXPECT_LE(test::max_abs_diff(logits(pm.model, *pm.method), logits(m, *method)), 1e-5);
  ASSERT_TRUE(m->kv_prefix());
  EXPECT_EQ(m->kv_prefix()->forward()[0].k.sizes(), (std::vector<int64_t>{1, 2, 5, 8}));
}

TEST_F(Peft, AdapterExportRoundTrips) {
  MethodConfig mc;
  mc.type = MethodType::kAdapter;
  mc.adapter.bottleneck = 8;
  mc.adapter.placement = {"mlp"};
  auto method = make_method(mc, c);
  Transformer m = build(*method, base());
  randomize_trainable(*method, m);
  EXPECT_EQ(method->trainable(m).size(), 2u * 4u);  // 2 layers x down/up x weight/bias
  fs_mkdir(dir / "ad");
  method->export_adapter(m, dir / "ad", "b");
  auto st = SafetensorsFile::open(dir / "ad/adapter_model.safetensors");
  EXPECT_EQ(st->info("base_model.model.model.layers.0.mlp_adapter.down.weight").shape,
            (std::vector<int64_t>{8, 32}));
  PeftModel pm = load_with_adapter(base(), dir / "ad");
  EXPECT_LE(test::max_abs_diff(logits(pm.model, *pm.method), logits(m, *method)), 1e-6);
}

TEST(PeftExport, MergingAdapterOrPrefixIsARecipeError) {
  ModelConfig c = tiny_config();
  MethodConfig mc;
  mc.type = MethodType::kAdapter;
  auto adapter = make_method(mc, c);
  EXPECT_EQ(resolve_export(*adapter, ExportMode::kByMethod), ExportMode::kAdapter);
  try {
    resolve_export(*adapter, ExportMode::kBoth);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.exit_code(), 2);
    EXPECT_STREQ(e.what(),
                 "output.export: 'both' needs merged weights, but method 'adapter' cannot be "
                 "folded into LLaMA weights (it adds layers to each block); use export: adapter");
  }
  mc.type = MethodType::kPrefix;
  EXPECT_THROW(resolve_export(*make_method(mc, c), ExportMode::kMerged), Error);
  mc.type = MethodType::kLora;
  EXPECT_EQ(resolve_export(*make_method(mc, c), ExportMode::kBoth), ExportMode::kBoth);
  FullMethod full;
  EXPECT_EQ(resolve_export(full, ExportMode::kByMethod), ExportMode::kMerged);
  EXPECT_THROW(resolve_export(full, ExportMode::kAdapter), Error);
}

// PEFT's string target_modules is a regex over the whole module path (re.fullmatch). Found by
// fuzz_adapter_config: an invalid one threw std::regex_error out of the first match.
TEST(AdapterConfig, TargetModulesStringIsAFullMatchRegexAndAnInvalidOneIsAnError) {
  test::TempDir dir;
  auto config = [&](const std::string& targets) {
    test::write_text(dir / "adapter_config.json",
                     R"({"peft_type": "LORA", "r": 2, "lora_alpha": 4, "target_modules": )" +
                         nlohmann::json(targets).dump() + "}");
  };
  config(R"(.*\.layers\.1\..*(q|v)_proj)");
  const AdapterFileConfig c = read_adapter_config(dir.path());
  const LoraTargets t{c.target_modules, c.target_regex, c.layers_to_transform};
  EXPECT_TRUE(t.matches("model.layers.1.self_attn.v_proj"));
  EXPECT_FALSE(t.matches("model.layers.0.self_attn.v_proj"));
  EXPECT_FALSE(t.matches("model.layers.1.self_attn.o_proj"));
  config("all-lin[ar");
  EXPECT_CONTAINS(test::error_of([&] { read_adapter_config(dir.path()); }),
                  dir /
                      "adapter_config.json: target_modules \"all-lin[ar\" is not a valid "
                      "regular expression (");
}

}  // namespace
}  // namespace ptune
