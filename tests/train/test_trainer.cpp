// Recipe tier: a tiny recipe trains end to end; checkpoints, metrics, export and resume.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "ptune/config/recipe_loader.h"
#include "ptune/core/error.h"
#include "ptune/io/checkpoint.h"
#include "ptune/train/trainer.h"
#include "tiny_run.h"

namespace fs = std::filesystem;
using namespace ptune;
using namespace ptune::test;

TEST(Train, TinyRecipeWritesMetricsCheckpointsAndFinal) {
  TempDir t;
  const std::string out = t / "run";
  TrainSummary s = train_text(tiny_recipe(out, 12));
  EXPECT_EQ(s.step, 12);
  EXPECT_EQ(s.final_dir, out + "/final");

  auto m = read_metrics(out + "/metrics.jsonl");
  ASSERT_EQ(m.size(), 6u);  // log_every 2
  for (size_t i = 0; i < m.size(); ++i) {
    EXPECT_EQ(m[i]["step"].get<int64_t>(), 2 * static_cast<int64_t>(i + 1));
    for (const char* k : {"loss", "lr", "grad_norm", "tokens_per_s"})
      EXPECT_TRUE(m[i].contains(k)) << k;
    EXPECT_EQ(m[i].contains("eval_loss"), (i + 1) % 2 == 0) << "eval every 4 steps";
  }
  EXPECT_LT(m.back()["loss"].get<double>(), m.front()["loss"].get<double>());

  // keep_last 2 of checkpoints 4, 8, 12.
  EXPECT_FALSE(fs::exists(out + "/checkpoint-4"));
  EXPECT_TRUE(fs::exists(out + "/checkpoint-8/training_state.pt"));
  EXPECT_TRUE(fs::exists(out + "/checkpoint-12/model.safetensors"));
  for (const char* f : {"config.json", "model.safetensors", "tokenizer.model"})
    EXPECT_TRUE(fs::exists(out + "/final/" + f)) << f;
  EXPECT_TRUE(fs::exists(out + "/recipe.yaml"));
  for (const auto& e : fs::directory_iterator(out))
    EXPECT_EQ(e.path().filename().string().find(".tmp"), std::string::npos) << e.path();

  ModelConfig c = read_checkpoint_config(out + "/final");
  EXPECT_EQ(c.hidden_size, 32);
  EXPECT_EQ(c.num_key_value_heads, 2);
}

TEST(Train, ResumedLossesEqualUninterruptedOnes) {
  TempDir t;
  const std::string a = t / "a", b = t / "b";
  train_text(tiny_recipe(a, 12));
  TrainOptions stop;
  stop.stop_at = 6;
  TrainSummary first = train_text(tiny_recipe(b, 12), stop);
  EXPECT_EQ(first.step, 6);
  EXPECT_TRUE(first.final_dir.empty());
  EXPECT_TRUE(fs::exists(b + "/checkpoint-6"));
  TrainOptions resume;
  resume.resume = true;
  train_text(tiny_recipe(b, 12), resume);

  auto ma = read_metrics(a + "/metrics.jsonl"), mb = read_metrics(b + "/metrics.jsonl");
  ASSERT_EQ(ma.size(), mb.size());
  for (size_t i = 0; i < ma.size(); ++i) {
    EXPECT_EQ(ma[i]["step"], mb[i]["step"]);
    EXPECT_EQ(ma[i]["loss"].get<double>(), mb[i]["loss"].get<double>()) << "step " << ma[i]["step"];
    if (ma[i].contains("eval_loss")) {
      EXPECT_EQ(ma[i]["eval_loss"].get<double>(), mb[i]["eval_loss"].get<double>());
    }
  }
  auto wa = CheckpointWeights::open(a + "/final"), wb = CheckpointWeights::open(b + "/final");
  for (const auto& k : wa.keys()) EXPECT_TRUE(torch::equal(wa.get(k), wb.get(k))) << k;
}

TEST(Train, FreshRunRefusesToReuseAnOutputDir) {
  TempDir t;
  const std::string out = t / "run";
  train_text(tiny_recipe(out, 4));
  const std::string before = read_text(out + "/final/model.safetensors");
  try {
    train_text(tiny_recipe(out, 4));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.exit_code(), 2);
    EXPECT_NE(std::string(e.what()).find("already holds a run"), std::string::npos) << e.what();
  }
  EXPECT_EQ(read_text(out + "/final/model.safetensors"), before);
}

// Gradient accumulation normalises by the step's predicted tokens: batch 4 x 1 and
// batch 2 x 2 see the same examples and must give the same loss and update, even with
// examples of different lengths.
TEST(Train, GradAccumMatchesOneBigBatch) {
  TempDir t;
  std::mt19937 rng(1);
  std::ofstream f(t / "tokens.jsonl");
  for (int i = 0; i < 16; ++i) {
    const int len = 6 + static_cast<int>(rng() % 20);
    f << "{\"input_ids\": [";
    for (int j = 0; j < len; ++j) f << (j ? "," : "") << 4 + rng() % 200;
    f << "]}\n";
  }
  f.close();
  auto recipe = [](const std::string& out) { return tiny_recipe(out, 3); };
  std::vector<std::string> common = {"data.train.path=" + (t / "tokens.jsonl"),
                                     "data.train.format=tokens",
                                     "data.shuffle=false",
                                     "train.eval_every=0",
                                     "train.log_every=1",
                                     "optim.grad_clip=0"};
  auto one = common, two = common;
  one.push_back("train.batch_size=4");
  two.push_back("train.batch_size=2");
  two.push_back("train.grad_accum=2");
  train_text(recipe(t / "one"), {}, one);
  train_text(recipe(t / "two"), {}, two);
  auto m1 = read_metrics(t / "one/metrics.jsonl"), m2 = read_metrics(t / "two/metrics.jsonl");
  ASSERT_EQ(m1.size(), 3u);
  ASSERT_EQ(m2.size(), 3u);
  for (size_t i = 0; i < 3; ++i)
    EXPECT_NEAR(m1[i]["loss"].get<double>(), m2[i]["loss"].get<double>(), 1e-5) << "step " << i + 1;
}

// Activation checkpointing recomputes each block in the backward with the generator state of
// the forward: in fp32, bf16 and fp16 the same operations run on the same values in the same
// order (one thread), so losses and final weights are bit-identical to a run without it, for
// every method, with dropout, and with packed documents (the default text packing).
TEST(Train, ActivationCheckpointingGivesTheSameRun) {
  TempDir t;
  const std::vector<std::pair<std::string, std::vector<std::string>>> cases = {
      {"full", {}},
      {"full-bf16-every-2", {"precision.dtype=bf16"}},
      {"lora-dropout",
       {"method.type=lora", "method.lora.dropout=0.2", "method.lora.targets=all-linear"}},
      {"lora-bf16-base-fp16",
       {"method.type=lora", "method.lora.base_dtype=bf16", "precision.dtype=fp16"}},
      {"adapter-dropout",
       {"method.type=adapter", "method.adapter.bottleneck=8", "method.adapter.dropout=0.2"}},
      {"prefix",
       {"method.type=prefix", "method.prefix.virtual_tokens=4",
        "method.prefix.projection_hidden=16"}},
  };
  for (const auto& [name, sets] : cases) {
    SCOPED_TRACE(name);
    const std::string plain = t / (name + "-plain"), recomputed = t / (name + "-recomputed");
    auto with = sets;
    with.push_back(std::string("train.activation_checkpointing=") +
                   (name.find("every-2") != std::string::npos ? "2" : "true"));
    train_text(tiny_recipe(plain, 6), {}, sets);
    train_text(tiny_recipe(recomputed, 6), {}, with);
    auto ma = read_metrics(plain + "/metrics.jsonl"),
         mb = read_metrics(recomputed + "/metrics.jsonl");
    ASSERT_EQ(ma.size(), mb.size());
    for (size_t i = 0; i < ma.size(); ++i) {
      EXPECT_EQ(ma[i]["loss"].get<double>(), mb[i]["loss"].get<double>())
          << "step " << ma[i]["step"];
      EXPECT_EQ(ma[i]["grad_norm"].get<double>(), mb[i]["grad_norm"].get<double>())
          << "step " << ma[i]["step"];
    }
    // The exported weights (the model, or the adapter) byte for byte.
    int files = 0;
    for (const auto& e : fs::directory_iterator(plain + "/final")) {
      if (e.path().extension() != ".safetensors") continue;
      ++files;
      const std::string name = e.path().filename().string();
      EXPECT_TRUE(read_text(e.path().string()) == read_text(recomputed + "/final/" + name)) << name;
    }
    EXPECT_GT(files, 0);
  }
}

// A model pretrained with a tokenizer.json tokenizer (no BOS, as SmolLM2 and Qwen2) exports
// the tokenizer files transformers reads, and its config.json says there is no BOS.
TEST(Train, TokenizerJsonRunExportsTheTokenizerFiles) {
  TempDir t;
  const std::string out = t / "bpe";
  const std::string bpe = std::string(PTUNE_SOURCE_DIR) + "/data/wordnet-bpe";
  TrainSummary s =
      train_text(tiny_recipe(out, 4), {}, {"tokenizer.path=" + bpe, "train.eval_batches=0"});
  ASSERT_EQ(s.final_dir, out + "/final");
  for (const char* f : {"tokenizer.json", "tokenizer_config.json", "generation_config.json"})
    EXPECT_EQ(read_text(out + "/final/" + f), read_text(bpe + "/" + f)) << f;
  EXPECT_FALSE(fs::exists(out + "/final/tokenizer.model"));
  auto config = nlohmann::json::parse(read_text(out + "/final/config.json"));
  EXPECT_TRUE(config["bos_token_id"].is_null());
  EXPECT_EQ(config["eos_token_id"], 0);
  EXPECT_EQ(config["vocab_size"], 4096);
  RunResult r = run_ptune("--quiet eval --model " + out + "/final --data " + tiny_assets() +
                          "/eval.txt --seq-len 32");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NEAR(nlohmann::json::parse(r.out)["loss"].get<double>(), s.eval_loss, 1e-5);

  // Chat: eval scores the assistant turns; generate renders the template's generation prompt
  // and stops at <|im_end|> or the token limit.
  const std::string chat = t / "chat.jsonl";
  write_text(chat, R"({"messages": [{"role": "user", "content": "What does lamp mean?"},)"
                   R"( {"role": "assistant", "content": "A source of light."}]})"
                   "\n");
  r = run_ptune("--quiet eval --model " + out + "/final --data " + chat + " --format chat");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto e = nlohmann::json::parse(r.out);
  EXPECT_EQ(e["tokens"], 5 + 1) << "'A source of light.' (5 tokens) and <|im_end|>";
  r = run_ptune(
      "--quiet generate --model " + out +
          "/final --chat --format jsonl "
          "--max-new-tokens 5",
      "What does lamp mean?\n{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}\n");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto first = nlohmann::json::parse(r.out.substr(0, r.out.find('\n')));
  EXPECT_LE(first["new_tokens"].get<int64_t>(), 5);
  r = run_ptune("--quiet generate --model " + out + "/final --chat --prompt '{\"x\": 1}'");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("field 'messages' (OpenAI) or 'conversations' (ShareGPT) missing"),
            std::string::npos)
      << r.err;
}
