// Recipe tier for MTP: tiny recipes train with parallel and sequential heads; metrics carry
// per-head loss/accuracy; heads are saved in checkpoints and final/ and restored on resume;
// heads-only training leaves the base untouched; greedy speculative decoding with the trained
// heads reproduces plain greedy decoding token for token.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "ptune/config/recipe_loader.h"
#include "ptune/data/tokenizer.h"
#include "ptune/generate/speculative.h"
#include "ptune/io/checkpoint.h"
#include "ptune/model/loss.h"
#include "ptune/model/pretrained.h"
#include "ptune/mtp/heads_io.h"
#include "ptune/train/trainer.h"
#include "tiny_run.h"

namespace fs = std::filesystem;
using namespace ptune;
using namespace ptune::test;

namespace {

std::string mtp_yaml(const std::string& style, bool train_base = true) {
  return "mtp: {style: " + style + ", heads: 3, loss_weight: 0.5, head_decay: 0.8, train_base: " +
         (train_base ? "true" : "false") + "}";
}

}  // namespace

TEST(MtpTrain, ParallelHeadsWriteMetricsCheckpointsAndFinal) {
  TempDir t;
  const std::string out = t / "run";
  train_text(tiny_recipe(out, 8, mtp_yaml("parallel")));
  auto m = read_metrics(out + "/metrics.jsonl");
  ASSERT_EQ(m.size(), 4u);
  for (const auto& rec : m)
    for (const char* k : {"lm_loss", "mtp_loss_1", "mtp_acc_1", "mtp_loss_3", "mtp_acc_3"})
      EXPECT_TRUE(rec.contains(k)) << k;
  EXPECT_TRUE(m[1].contains("eval_mtp_loss_2"));
  EXPECT_TRUE(m[1].contains("eval_mtp_acc_3"));
  // loss = lm + lambda * sum_k decay^k * CE_k (head sums over the step's predicted tokens).
  for (const auto& rec : m) EXPECT_GT(rec["loss"].get<double>(), rec["lm_loss"].get<double>());
  for (const char* dir : {"/checkpoint-8", "/final"}) {
    EXPECT_TRUE(has_mtp_heads(out + dir)) << dir;
    EXPECT_TRUE(fs::exists(out + dir + "/model.safetensors")) << dir;
  }
}

TEST(MtpTrain, ResumeRestoresHeads) {
  TempDir t;
  const std::string a = t / "a", b = t / "b";
  train_text(tiny_recipe(a, 8, mtp_yaml("sequential")));
  TrainOptions stop;
  stop.stop_at = 4;
  train_text(tiny_recipe(b, 8, mtp_yaml("sequential")), stop);
  TrainOptions resume;
  resume.resume = true;
  train_text(tiny_recipe(b, 8, mtp_yaml("sequential")), resume);
  auto ma = read_metrics(a + "/metrics.jsonl"), mb = read_metrics(b + "/metrics.jsonl");
  ASSERT_EQ(ma.size(), mb.size());
  for (size_t i = 0; i < ma.size(); ++i) {
    EXPECT_EQ(ma[i]["loss"].get<double>(), mb[i]["loss"].get<double>()) << i;
    EXPECT_EQ(ma[i]["mtp_loss_3"].get<double>(), mb[i]["mtp_loss_3"].get<double>()) << i;
  }
}

// Medusa-1: heads only on a trained base; the exported base weights are the base's.
TEST(MtpTrain, HeadsOnlyLeavesTheBaseUnchanged) {
  TempDir t;
  const std::string base = t / "base", heads = t / "heads";
  train_text(tiny_recipe(base, 4));
  train_text(tiny_recipe(heads, 4, mtp_yaml("parallel", false)), {},
             {"model.path=" + base + "/final"});
  auto wa = CheckpointWeights::open(base + "/final"),
       wb = CheckpointWeights::open(heads + "/final");
  ASSERT_EQ(wa.keys(), wb.keys());
  for (const auto& k : wa.keys()) EXPECT_TRUE(torch::equal(wa.get(k), wb.get(k))) << k;
  EXPECT_TRUE(has_mtp_heads(heads + "/final"));
}

// The acceptance rule: greedy speculative output equals plain greedy output token
// for token on a trained model (here trained for a few dozen steps, both styles).
TEST(MtpTrain, SpeculativeGreedyEqualsPlainGreedyOnTrainedModel) {
  TempDir t;
  const std::string a = tiny_assets();
  Tokenizer tok = Tokenizer::load(a + "/tok.model");
  std::vector<std::string> prompts;
  {
    std::ifstream in(a + "/eval.txt");
    for (std::string line; prompts.size() < 4 && std::getline(in, line);)
      prompts.push_back(line.substr(0, line.find('(')));
  }
  for (const std::string style : {"parallel", "sequential"}) {
    const std::string out = t / style;
    train_text(tiny_recipe(out, 40, mtp_yaml(style)), {},
               {"train.eval_every=0", "train.save_every=0"});
    Transformer model = load_pretrained(out + "/final");
    auto [cfg, heads] = load_mtp_heads(out + "/final", model);
    EXPECT_EQ(name_of(cfg.style), style);
    GenerateOptions o;
    o.max_new_tokens = 24;
    o.stop_ids = tok.stop_ids();
    int64_t accepted = 0;
    for (const auto& p : prompts) {
      std::vector<int64_t> ids{tok.bos_id()};
      for (int32_t id : tok.encode(p)) ids.push_back(id);
      GenerateResult plain = generate(model, ids, o);
      GenerateResult spec = generate_speculative(model, *heads, ids, o);
      EXPECT_EQ(spec.tokens, plain.tokens) << style << ": " << p;
      EXPECT_EQ(spec.stopped_at_eos, plain.stopped_at_eos);
      accepted += spec.stats.accepted;
    }
    EXPECT_GT(accepted, 0) << style << ": trained heads should get some drafts accepted";
  }
}
