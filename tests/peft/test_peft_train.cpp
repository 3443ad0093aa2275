// Recipe tier for PEFT: LoRA / adapter / prefix fine-tunes of a tiny trained base. The
// checkpoints hold only trainable tensors, the frozen base comes out bit-identical, resume
// (with LoRA dropout) equals an uninterrupted run, and `ptune eval --adapter` on the export
// returns the loss the trainer measured.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "ptune/config/recipe_loader.h"
#include "ptune/core/error.h"
#include "ptune/core/text.h"
#include "ptune/io/checkpoint.h"
#include "ptune/train/trainer.h"
#include "tiny_run.h"

namespace fs = std::filesystem;
using namespace ptune;
using namespace ptune::test;

namespace {

// A tiny full-trained base, shared by the tests of this file.
const std::string& tiny_base() {
  static TempDir dir;
  static bool ready = false;
  if (!ready) {
    run_training(load_recipe_text(tiny_recipe(dir / "run", 8), "base.yaml", {}), {});
    ready = true;
  }
  static const std::string final_dir = dir.path() + "/run/final";
  return final_dir;
}

TrainSummary train_peft(const std::string& out, const std::vector<std::string>& sets, int steps = 6,
                        const TrainOptions& o = {}) {
  std::vector<std::string> all = {"model.path=" + tiny_base(), "train.eval_batches=0",
                                  "optim.lr=0.02"};
  all.insert(all.end(), sets.begin(), sets.end());
  return run_training(load_recipe_text(tiny_recipe(out, steps), "peft.yaml", all), o);
}

double cli_eval_loss(const std::string& args) {
  RunResult r =
      run_ptune("--quiet eval " + args + " --data " + tiny_assets() + "/eval.txt --seq-len 32");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return nlohmann::json::parse(r.out)["loss"].get<double>();
}

}  // namespace

TEST(PeftTrain, LoraTouchesOnlyItsTargetsAndExportsBoth) {
  TempDir t;
  const std::string out = t / "lora";
  TrainSummary s = train_peft(
      out, {"method.type=lora", "method.lora.targets=[q_proj, v_proj]", "output.export=both"});
  ASSERT_EQ(s.step, 6);
  // Checkpoints hold only the trainable tensors.
  auto ck = CheckpointWeights::open(out + "/checkpoint-4");
  EXPECT_EQ(ck.keys().size(), 2u * 2u * 2u);
  for (const auto& k : ck.keys()) EXPECT_NE(k.find(".lora_"), std::string::npos) << k;
  // Merged: untargeted tensors bit-identical to the base, targeted ones changed.
  auto base = CheckpointWeights::open(tiny_base()),
       merged = CheckpointWeights::open(out + "/merged");
  ASSERT_EQ(base.keys(), merged.keys());
  for (const auto& k : base.keys()) {
    const bool targeted =
        k.find("q_proj") != std::string::npos || k.find("v_proj") != std::string::npos;
    EXPECT_EQ(torch::equal(base.get(k), merged.get(k)), !targeted) << k;
  }
  EXPECT_TRUE(fs::exists(out + "/final/adapter_config.json"));
  EXPECT_TRUE(fs::exists(out + "/final/tokenizer.model"));
  // export -> load -> eval gives the trainer's loss, unmerged and merged.
  EXPECT_NEAR(cli_eval_loss("--adapter " + out + "/final"), s.eval_loss, 1e-5);
  EXPECT_NEAR(cli_eval_loss("--model " + out + "/merged"), s.eval_loss, 1e-5);
}

// A Qwen2-shaped model (q/k/v biases, tied embeddings, as Qwen2.5-0.5B): full training moves
// the biases and exports them under HF names; LoRA on every projection keeps them frozen and
// its adapter, merged or not, evaluates to the trainer's loss.
TEST(PeftTrain, Qwen2BiasesTrainFullAndStayFrozenUnderLora) {
  TempDir t;
  const std::string base = t / "base";
  run_training(
      load_recipe_text(tiny_recipe(base, 8), "qwen2.yaml",
                       {"model.arch.model_type=qwen2", "model.arch.tie_word_embeddings=true"}),
      {});
  auto json = nlohmann::json::parse(read_text(base + "/final/config.json"));
  EXPECT_EQ(json["architectures"], nlohmann::json({"Qwen2ForCausalLM"}));
  auto w = CheckpointWeights::open(base + "/final");
  EXPECT_FALSE(w.contains("lm_head.weight"));
  EXPECT_FALSE(w.contains("model.layers.0.self_attn.o_proj.bias"));
  for (const char* p : {"q_proj", "k_proj", "v_proj"}) {
    const std::string key = std::string("model.layers.1.self_attn.") + p + ".bias";
    ASSERT_TRUE(w.contains(key)) << key;
    EXPECT_GT(w.get(key).abs().max().item<double>(), 0.0) << key << " trained from zero";
  }

  const std::string out = t / "lora";
  TrainSummary s =
      run_training(load_recipe_text(tiny_recipe(out, 6), "lora.yaml",
                                    {"model.path=" + base + "/final", "train.eval_batches=0",
                                     "optim.lr=0.02", "method.type=lora",
                                     "method.lora.targets=all-linear", "output.export=both"}),
                   {});
  auto merged = CheckpointWeights::open(out + "/merged");
  ASSERT_EQ(w.keys(), merged.keys());
  for (const auto& k : w.keys()) {
    if (ends_with(k, ".bias")) EXPECT_TRUE(torch::equal(w.get(k), merged.get(k))) << k;
  }
  EXPECT_FALSE(torch::equal(w.get("model.layers.0.self_attn.k_proj.weight"),
                            merged.get("model.layers.0.self_attn.k_proj.weight")));
  EXPECT_NEAR(cli_eval_loss("--adapter " + out + "/final"), s.eval_loss, 1e-5);
  EXPECT_NEAR(cli_eval_loss("--model " + out + "/merged"), s.eval_loss, 1e-5);
}

TEST(PeftTrain, AdapterAndPrefixExportsEvalToTheTrainersLoss) {
  TempDir t;
  for (const auto& sets : std::vector<std::vector<std::string>>{
           {"method.type=adapter", "method.adapter.bottleneck=8"},
           {"method.type=prefix", "method.prefix.virtual_tokens=4",
            "method.prefix.projection_hidden=16"}}) {
    const std::string out = t / sets[0].substr(12);
    TrainSummary s = train_peft(out, sets);
    ASSERT_EQ(s.final_dir, out + "/final") << sets[0];
    EXPECT_FALSE(fs::exists(out + "/merged"));
    const double base_loss = cli_eval_loss("--model " + tiny_base());
    const double loss = cli_eval_loss("--adapter " + out + "/final");
    EXPECT_NEAR(loss, s.eval_loss, 1e-5) << sets[0];
    EXPECT_LT(loss, base_loss) << sets[0];
  }
}

TEST(PeftTrain, MergedExportOfAnAdapterIsRejectedBeforeTraining) {
  TempDir t;
  try {
    train_peft(t / "x", {"method.type=prefix", "output.export=merged"});
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.exit_code(), 2);
    EXPECT_NE(std::string(e.what()).find("method 'prefix' cannot be folded into LLaMA weights"),
              std::string::npos)
        << e.what();
  }
  EXPECT_FALSE(fs::exists(t / "x"));
}

TEST(PeftTrain, ResumedLoraWithDropoutEqualsUninterrupted) {
  TempDir t;
  const std::vector<std::string> sets = {"method.type=lora", "method.lora.dropout=0.1"};
  train_peft(t / "a", sets, 8);
  TrainOptions stop;
  stop.stop_at = 4;
  train_peft(t / "b", sets, 8, stop);
  TrainOptions resume;
  resume.resume = true;
  train_peft(t / "b", sets, 8, resume);
  auto wa = SafetensorsFile::open(t / "a/final/adapter_model.safetensors");
  auto wb = SafetensorsFile::open(t / "b/final/adapter_model.safetensors");
  ASSERT_EQ(wa->tensors().size(), wb->tensors().size());
  for (const auto& info : wa->tensors())
    EXPECT_TRUE(torch::equal(wa->tensor(info.name), wb->tensor(info.name))) << info.name;
}
