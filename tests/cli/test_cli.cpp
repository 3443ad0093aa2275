// CLI tier: exit codes, messages on stderr, results on stdout, nothing overwritten on failure.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "tiny_run.h"

namespace fs = std::filesystem;
using namespace ptune::test;

namespace {

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace

TEST(Cli, VersionAndHelp) {
  auto v = run_ptune("--version");
  EXPECT_EQ(v.exit_code, 0);
  EXPECT_TRUE(contains(v.out, "ptune 0.")) << v.out;
  auto h = run_ptune("--help");
  EXPECT_EQ(h.exit_code, 0);
  for (const char* cmd : {"train", "eval", "tokenizer", "info"}) EXPECT_TRUE(contains(h.out, cmd)) << cmd;
}

TEST(Cli, UsageErrorsExitTwo) {
  EXPECT_EQ(run_ptune("").exit_code, 2);
  EXPECT_EQ(run_ptune("frobnicate").exit_code, 2);
  auto r = run_ptune("train");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(contains(r.err, "--config")) << r.err;
}

TEST(Cli, MissingRecipeNamesTheFile) {
  auto r = run_ptune("train --config /nonexistent/r.yaml");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(contains(r.err, "/nonexistent/r.yaml")) << r.err;
}

TEST(Cli, RecipeTypoIsRejectedWithPathAndLine) {
  TempDir t;
  std::string y = tiny_recipe(t / "run");
  y.replace(y.find("optim: {lr:"), 11, "optim: {lrr:");
  write_text(t / "r.yaml", y);
  auto r = run_ptune("train --config " + (t / "r.yaml"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(contains(r.err, "optim.lrr")) << r.err;
  EXPECT_TRUE(contains(r.err, "r.yaml:9")) << r.err;
  EXPECT_FALSE(fs::exists(t / "run")) << "nothing may start before the recipe is valid";
}

TEST(Cli, DryRunPrintsResolvedRecipeWithOverrides) {
  TempDir t;
  write_text(t / "r.yaml", tiny_recipe(t / "run"));
  auto r = run_ptune("train --config " + (t / "r.yaml") + " --dry-run --set optim.lr=0.5 --set train.steps=7");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "lr: 0.5")) << r.out;
  EXPECT_TRUE(contains(r.out, "steps: 7")) << r.out;
  auto bad = run_ptune("train --config " + (t / "r.yaml") + " --dry-run --set optim.lr=-1");
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_TRUE(contains(bad.err, "optim.lr")) << bad.err;
}

TEST(Cli, RecipeFromStdin) {
  TempDir t;
  auto r = run_ptune("train --config - --dry-run", tiny_recipe(t / "run"));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "hidden_size: 32")) << r.out;
}

TEST(Cli, TrainEvalInfoPipeline) {
  TempDir t;
  write_text(t / "r.yaml", tiny_recipe(t / "run", 4));
  auto tr = run_ptune("--quiet train --config " + (t / "r.yaml"));
  ASSERT_EQ(tr.exit_code, 0) << tr.err;
  auto summary = nlohmann::json::parse(tr.out);
  EXPECT_EQ(summary["step"], 4);
  EXPECT_EQ(summary["output"], t / "run/final");
  EXPECT_GT(summary["train_loss"].get<double>(), 0.0);

  // Resuming a finished run trains nothing and reports no training loss; final/ is rewritten
  // from the last checkpoint with the same weights.
  const std::string weights = read_text(t / "run/final/model.safetensors");
  auto again = run_ptune("train --config " + (t / "r.yaml") + " --resume");
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_TRUE(contains(again.err, "nothing to train: the run is at step 4 of 4")) << again.err;
  auto again_summary = nlohmann::json::parse(again.out);
  EXPECT_EQ(again_summary["step"], 4);
  EXPECT_FALSE(again_summary.contains("train_loss")) << again.out;
  EXPECT_EQ(read_text(t / "run/final/model.safetensors"), weights);

  auto ev = run_ptune("eval --config " + (t / "r.yaml"));
  ASSERT_EQ(ev.exit_code, 0) << ev.err;
  auto j = nlohmann::json::parse(ev.out);
  for (const char* k : {"loss", "perplexity", "accuracy", "tokens"}) EXPECT_TRUE(j.contains(k)) << k;
  EXPECT_NEAR(std::exp(j["loss"].get<double>()), j["perplexity"].get<double>(), 1e-6);
  EXPECT_GT(j["tokens"].get<int64_t>(), 0);

  // Same data through stdin and --model: the same numbers.
  auto ev2 = run_ptune("eval --model " + (t / "run/final") + " --data - --seq-len 32",
                       read_text(tiny_assets() + "/eval.txt"));
  ASSERT_EQ(ev2.exit_code, 0) << ev2.err;
  EXPECT_DOUBLE_EQ(nlohmann::json::parse(ev2.out)["loss"].get<double>(), j["loss"].get<double>());

  auto per = run_ptune("eval --model " + (t / "run/final") + " --data " + tiny_assets() +
                       "/eval.txt --seq-len 32 --per-example");
  ASSERT_EQ(per.exit_code, 0) << per.err;
  int64_t lines = 0, tokens = 0;
  std::istringstream in(per.out);
  for (std::string line; std::getline(in, line); ++lines) tokens += nlohmann::json::parse(line)["tokens"].get<int64_t>();
  EXPECT_EQ(tokens, j["tokens"].get<int64_t>());
  EXPECT_EQ(lines, j["examples"].get<int64_t>());

  auto info = run_ptune("info --json --model " + (t / "run/final"));
  ASSERT_EQ(info.exit_code, 0) << info.err;
  auto ij = nlohmann::json::parse(info.out);
  EXPECT_EQ(ij["hidden_size"], 32);
  EXPECT_EQ(ij["num_hidden_layers"], 2);
  EXPECT_GT(ij["parameters"].get<int64_t>(), 0);
}

TEST(Cli, CorruptCheckpointIsRuntimeErrorNamingTheFile) {
  TempDir t;
  write_text(t / "r.yaml", tiny_recipe(t / "run", 2));
  ASSERT_EQ(run_ptune("-q train --config " + (t / "r.yaml")).exit_code, 0);
  const std::string st = t / "run/final/model.safetensors";
  std::string bytes = read_text(st);
  write_text(st, bytes.substr(0, bytes.size() / 2));
  auto r = run_ptune("eval --model " + (t / "run/final") + " --data " + tiny_assets() + "/eval.txt");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(contains(r.err, "model.safetensors")) << r.err;
}

TEST(Cli, TokenizerEncodeDecodeRoundTripThroughPipes) {
  const std::string model = tiny_assets() + "/tok.model";
  auto enc = run_ptune("tokenizer encode --model " + model, "a small dog\nthe bank of a river\n");
  ASSERT_EQ(enc.exit_code, 0) << enc.err;
  auto dec = run_ptune("tokenizer decode --model " + model, enc.out);
  ASSERT_EQ(dec.exit_code, 0) << dec.err;
  EXPECT_EQ(dec.out, "a small dog\nthe bank of a river\n");
  auto bad = run_ptune("tokenizer decode --model " + model, "1 2 banana\n");
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_TRUE(contains(bad.err, "line 1")) << bad.err;
}

TEST(Cli, TokenizerTrainWritesModel) {
  TempDir t;
  auto r = run_ptune("-q tokenizer train --input " + tiny_assets() + "/train.txt --vocab-size 400 --out " +
                     (t / "tok.model"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(fs::exists(t / "tok.model"));
}

// By default text comes back exactly (LLaMA's settings); the flags switch back to
// SentencePiece's own defaults; a vocabulary too small for the byte pieces exits 2.
TEST(Cli, TokenizerTrainFlags) {
  TempDir t;
  auto train = [&](const std::string& name, const std::string& flags) {
    return run_ptune("-q tokenizer train --input " + tiny_assets() + "/train.txt --out " + (t / name) +
                     " " + flags);
  };
  auto round_trip = [&](const std::string& name, const std::string& text) {
    auto enc = run_ptune("tokenizer encode --model " + (t / name), text);
    EXPECT_EQ(enc.exit_code, 0) << enc.err;
    auto dec = run_ptune("tokenizer decode --model " + (t / name), enc.out);
    EXPECT_EQ(dec.exit_code, 0) << dec.err;
    return dec.out;
  };
  const std::string text = "x  y\t`z`  \xF0\x9F\x98\x80 \xEF\xAC\x81\n";  // U+1F600, U+FB01
  auto r = train("llama.model", "--vocab-size 400");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(round_trip("llama.model", text), text);
  r = train("nfkc.model",
            "--vocab-size 200 --normalization nmt_nfkc --no-byte-fallback --remove-extra-whitespaces "
            "--no-split-digits --no-dummy-prefix --no-whitespace-only-pieces "
            "--no-split-by-unicode-script --character-coverage 1");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(round_trip("nfkc.model", "x  y \xEF\xAC\x81\n"), "x y fi\n");

  r = train("small.model", "--vocab-size 300");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(contains(r.err, "vocab_size 300 is too small for this corpus; expected at least 332"))
      << r.err;
  EXPECT_FALSE(fs::exists(t / "small.model"));
  r = train("bad.model", "--normalization nfd");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(contains(r.err, "normalization must be one of identity, nmt_nfkc")) << r.err;
}

// Every bench mode scripts/bench.sh and docs/precision.md use runs and reports one JSON line.
TEST(Cli, BenchRunsEachPrecisionAndAutocast) {
  const std::string shape = "--hidden 32 --intermediate 64 --layers 1 --heads 2 --vocab 64 --seq 16 "
                            "--batch 2 --steps 1 --warmup 1";
  for (const std::string mode : {"--dtype fp32", "--dtype bf16", "--dtype fp16", "--dtype bf16 --autocast",
                                 "--dtype bf16 --method lora"}) {
    auto r = run_ptune("--quiet bench " + shape + " " + mode);
    ASSERT_EQ(r.exit_code, 0) << mode << ": " << r.err;
    const auto j = nlohmann::json::parse(r.out);
    EXPECT_GT(j.at("tokens_per_s").get<double>(), 0) << mode;
    EXPECT_EQ(j.at("autocast").get<int>(), contains(mode, "autocast") ? 1 : 0) << mode;
  }
  EXPECT_EQ(run_ptune("--quiet bench " + shape + " --dtype fp32 --autocast").exit_code, 2);
}
