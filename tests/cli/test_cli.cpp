// CLI tier: exit codes, messages on stderr, results on stdout, nothing overwritten on failure.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "tiny_run.h"

namespace fs = std::filesystem;
using namespace ptune::test;

namespace {

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

}  // namespace

TEST(Cli, VersionAndHelp) {
  auto v = run_ptune("--version");
  EXPECT_EQ(v.exit_code, 0);
  EXPECT_TRUE(contains(v.out, "ptune 0.")) << v.out;
  auto h = run_ptune("--help");
  EXPECT_EQ(h.exit_code, 0);
  for (const char* cmd : {"train", "eval", "tokenizer", "info", "report", "generate", "bench"})
    EXPECT_TRUE(contains(h.out, cmd)) << cmd;
}

// --version names the build and the CPU; PTUNE_CPU=avx2 makes the CPU look AVX2-only.
TEST(Cli, VersionShowsBuildAndCpuAndTheAvx2Switch) {
  auto v = run_ptune("--version");
  ASSERT_EQ(v.exit_code, 0) << v.err;
  EXPECT_TRUE(contains(v.out, "build: LibTorch ")) << v.out;
  EXPECT_TRUE(contains(v.out, "machine: ")) << v.out;
  EXPECT_TRUE(contains(v.out, "bf16 native") || contains(v.out, "bf16 emulated")) << v.out;
  auto forced = run_shell(std::string("PTUNE_CPU=avx2 ") + PTUNE_BINARY + " --version");
  ASSERT_EQ(forced.exit_code, 0) << forced.err;
  EXPECT_TRUE(contains(forced.out, "bf16 emulated")) << forced.out;
  EXPECT_TRUE(contains(forced.out, "PTUNE_CPU=avx2")) << forced.out;
  EXPECT_FALSE(contains(forced.out, "avx512")) << forced.out;
  auto bad = run_shell(
      std::string("PTUNE_CPU=sse9 ") + PTUNE_BINARY +
      " bench --steps 1 --warmup 0 --layers 1 --hidden 16 --heads 2 --vocab 32 --seq 4 --batch 1");
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_TRUE(contains(bad.err, "PTUNE_CPU: expected avx2 or native, got 'sse9'")) << bad.err;
}

// precision.dtype auto resolves when the recipe loads: --dry-run shows bf16 or fp32, and the
// forced AVX2 path always resolves to fp32.
TEST(Cli, DryRunShowsTheDtypeAutoResolvedTo) {
  TempDir t;
  write_text(t / "r.yaml", tiny_recipe(t / "run"));
  const std::string args =
      " train --config " + (t / "r.yaml") + " --dry-run --set precision.dtype=auto";
  auto r = run_ptune(args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const bool native = contains(run_ptune("--version").out, "bf16 native");
  EXPECT_TRUE(contains(r.out, native ? "dtype: bf16" : "dtype: fp32")) << r.out;
  auto forced = run_shell(std::string("PTUNE_CPU=avx2 ") + PTUNE_BINARY + args);
  ASSERT_EQ(forced.exit_code, 0) << forced.err;
  EXPECT_TRUE(contains(forced.out, "dtype: fp32")) << forced.out;
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
  auto r = run_ptune("train --config " + (t / "r.yaml") +
                     " --dry-run --set optim.lr=0.5 --set train.steps=7");
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
  for (const char* k : {"loss", "perplexity", "accuracy", "tokens"})
    EXPECT_TRUE(j.contains(k)) << k;
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
  for (std::string line; std::getline(in, line); ++lines)
    tokens += nlohmann::json::parse(line)["tokens"].get<int64_t>();
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
  auto r =
      run_ptune("eval --model " + (t / "run/final") + " --data " + tiny_assets() + "/eval.txt");
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
  auto r = run_ptune("-q tokenizer train --input " + tiny_assets() +
                     "/train.txt --vocab-size 400 --out " + (t / "tok.model"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(fs::exists(t / "tok.model"));
}

// By default text comes back exactly (LLaMA's settings); the flags switch back to
// SentencePiece's own defaults; a vocabulary too small for the byte pieces exits 2.
TEST(Cli, TokenizerTrainFlags) {
  TempDir t;
  auto train = [&](const std::string& name, const std::string& flags) {
    return run_ptune("-q tokenizer train --input " + tiny_assets() + "/train.txt --out " +
                     (t / name) + " " + flags);
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
  r = train(
      "nfkc.model",
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
  const std::string shape =
      "--hidden 32 --intermediate 64 --layers 1 --heads 2 --vocab 64 --seq 16 "
      "--batch 2 --steps 1 --warmup 1";
  for (const std::string mode : {"--dtype fp32", "--dtype bf16", "--dtype fp16",
                                 "--dtype bf16 --autocast", "--dtype bf16 --method lora"}) {
    auto r = run_ptune("--quiet bench " + shape + " " + mode);
    ASSERT_EQ(r.exit_code, 0) << mode << ": " << r.err;
    const auto j = nlohmann::json::parse(r.out);
    EXPECT_GT(j.at("tokens_per_s").get<double>(), 0) << mode;
    EXPECT_EQ(j.at("autocast").get<int>(), contains(mode, "autocast") ? 1 : 0) << mode;
    EXPECT_FALSE(j.at("cpu").get<std::string>().empty()) << mode;
    EXPECT_TRUE(j.contains("cpu_flags")) << mode;
    EXPECT_TRUE(j.at("bf16") == "native" || j.at("bf16") == "emulated") << mode;
    EXPECT_GT(j.at("threads").get<int>(), 0) << mode;
  }
  auto a = run_ptune("--quiet bench " + shape + " --dtype auto");
  ASSERT_EQ(a.exit_code, 0) << a.err;
  const auto ja = nlohmann::json::parse(a.out);
  EXPECT_EQ(ja.at("dtype"), ja.at("bf16") == "native" ? "bf16" : "fp32") << a.out;
  EXPECT_EQ(run_ptune("--quiet bench " + shape + " --dtype fp32 --autocast").exit_code, 2);
}

// Sizes that cannot work stop before anything big is allocated: beyond what ptune can index is
// a usage error naming the key, value and limit (exit 2); beyond this machine's memory a
// runtime error saying how much is needed (exit 1). Never std::bad_alloc.
TEST(Cli, SizesThatCannotWorkAreErrorsNotBadAlloc) {
  TempDir t;
  const std::string recipe = tiny_recipe(t / "run");
  write_text(t / "r.yaml", recipe);
  const std::string why =
      "; batch_size * data.seq_len (32) tokens are the rows of every projection's GEMM, "
      "which BLAS counts in a 32-bit int";
  auto batch =
      run_ptune("train --config " + (t / "r.yaml") + " --set train.batch_size=1000000000000");
  EXPECT_EQ(batch.exit_code, 2);
  EXPECT_TRUE(contains(batch.err,
                       "train.batch_size: must be <= 67108863, got 1000000000000 (--set "
                       "train.batch_size=1000000000000)" +
                           why))
      << batch.err;
  std::string in_file = recipe;
  in_file.replace(in_file.find("batch_size: 4"), 13, "batch_size: 1000000000000");
  write_text(t / "big.yaml", in_file);
  auto from_file = run_ptune("train --config " + (t / "big.yaml"));
  EXPECT_EQ(from_file.exit_code, 2);
  EXPECT_TRUE(contains(from_file.err, "train.batch_size: must be <= 67108863, got 1000000000000 (" +
                                          (t / "big.yaml") + ":11)" + why))
      << from_file.err;

  // hidden_size 10^6 (4 heads of 250000) is within every index limit, and about 30 TB of weights.
  auto model =
      run_ptune("train --config " + (t / "r.yaml") + " --set model.arch.hidden_size=1000000");
  EXPECT_EQ(model.exit_code, 1);
  EXPECT_TRUE(contains(model.err, "error: train: needs about ")) << model.err;
  EXPECT_TRUE(contains(model.err, " GB, this machine has ")) << model.err;
  EXPECT_TRUE(contains(model.err, "(weights ")) << model.err;
  EXPECT_FALSE(contains(model.err, "bad_alloc")) << model.err;
  EXPECT_FALSE(fs::exists(t / "run")) << "nothing may be written before the sizes are checked";

  // The same model as a checkpoint's config.json: eval refuses before building it; a vocabulary
  // beyond int32 token ids is an error naming the file.
  nlohmann::json cfg = {{"vocab_size", 320},        {"hidden_size", 1000000},
                        {"intermediate_size", 64},  {"num_hidden_layers", 2},
                        {"num_attention_heads", 4}, {"num_key_value_heads", 2}};
  fs::create_directories(t / "ckpt");
  fs::copy_file(tiny_assets() + "/tok.model", t / "ckpt/tokenizer.model");
  write_text(t / "ckpt/config.json", cfg.dump());
  const std::string eval =
      "eval --model " + (t / "ckpt") + " --data " + tiny_assets() + "/eval.txt";
  auto eval_big = run_ptune(eval);
  EXPECT_EQ(eval_big.exit_code, 1);
  EXPECT_TRUE(contains(eval_big.err, "error: eval: needs about ")) << eval_big.err;
  EXPECT_TRUE(contains(eval_big.err, "; the model alone does not fit")) << eval_big.err;
  cfg["hidden_size"] = 32;
  cfg["vocab_size"] = 4294967296;
  write_text(t / "ckpt/config.json", cfg.dump());
  auto eval_vocab = run_ptune(eval);
  EXPECT_EQ(eval_vocab.exit_code, 2);
  EXPECT_TRUE(contains(eval_vocab.err, (t / "ckpt/config.json") +
                                           ": model config: vocab_size must be <= "
                                           "2147483647, got 4294967296; token ids are int32"))
      << eval_vocab.err;

  auto bench = run_ptune("bench --batch 1000000000000 --seq 16");
  EXPECT_EQ(bench.exit_code, 2);
  EXPECT_TRUE(contains(bench.err, "bench: --batch must be <= 134217727, got 1000000000000"))
      << bench.err;
  auto bench_big = run_ptune("bench --hidden 1000000 --heads 4 --seq 16 --batch 1");
  EXPECT_EQ(bench_big.exit_code, 1);
  EXPECT_TRUE(contains(bench_big.err, "error: bench: needs about ")) << bench_big.err;
}

// On a terminal (script(1) provides one) training redraws one progress line; on a pipe it
// does not, and --quiet silences it.
TEST(Cli, ProgressLineOnlyOnATerminal) {
  if (run_shell("command -v script").exit_code != 0)
    GTEST_SKIP() << "no script(1) (util-linux) to give ptune a terminal";
  TempDir t;
  write_text(t / "r.yaml", tiny_recipe(t / "run", 4));
  auto on_tty = [&](const std::string& args) {
    return run_shell("script -qec '" + std::string(PTUNE_BINARY) + " " + args + "' /dev/null");
  };
  auto tty = on_tty("train --config " + (t / "r.yaml"));
  ASSERT_EQ(tty.exit_code, 0) << tty.out;
  EXPECT_TRUE(contains(tty.out, "\r\033[Kstep 1/4 [#####...............]  25%")) << tty.out;
  EXPECT_TRUE(contains(tty.out, "eta ")) << tty.out;
  EXPECT_TRUE(contains(tty.out, "step 4/4 [####################] 100%")) << tty.out;
  EXPECT_TRUE(contains(tty.out, "ready to train in")) << "log lines still shown";

  auto pipe = run_ptune("train --config " + (t / "r.yaml") + " --set output.dir=" + (t / "b"));
  ASSERT_EQ(pipe.exit_code, 0) << pipe.err;
  EXPECT_FALSE(contains(pipe.err, "\r")) << pipe.err;
  EXPECT_TRUE(contains(pipe.err, "step 4/4 | loss")) << "the plain log line";

  auto quiet = on_tty("-q train --config " + (t / "r.yaml") + " --set output.dir=" + (t / "c"));
  ASSERT_EQ(quiet.exit_code, 0) << quiet.out;
  EXPECT_FALSE(contains(quiet.out, "step 1/4 [")) << quiet.out;
}

TEST(Cli, ReportOfRunsAndRefusedOutputs) {
  TempDir t;
  write_text(t / "r.yaml", tiny_recipe(t / "run", 4));
  auto tr = run_ptune("-q train --config " + (t / "r.yaml"));
  ASSERT_EQ(tr.exit_code, 0) << tr.err;
  EXPECT_EQ(nlohmann::json::parse(tr.out)["report"], t / "run/report.html");
  auto r = run_ptune("-q report " + (t / "run") + " -o " + (t / "r.html"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["report"], t / "r.html");
  EXPECT_EQ(j["runs"], 1);
  EXPECT_TRUE(contains(read_text(t / "r.html"), "const RUNS = "));
  const auto info = nlohmann::json::parse(read_text(t / "run/run.json"));
  EXPECT_EQ(info["finished"], true);
  EXPECT_GT(info["params_trainable"].get<int64_t>(), 0);

  auto missing = run_ptune("report " + (t / "nope"));
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_TRUE(contains(missing.err, "is not a run directory")) << missing.err;
  const std::string metrics = read_text(t / "run/metrics.jsonl");
  auto onto_input = run_ptune("report " + (t / "run") + " -o " + (t / "run/metrics.jsonl"));
  EXPECT_EQ(onto_input.exit_code, 2);
  EXPECT_EQ(read_text(t / "run/metrics.jsonl"), metrics);
}

// --resume-if-exists: a job loop runs the same command after every preemption.
TEST(Cli, ResumeIfExistsStartsThenResumes) {
  TempDir t;
  write_text(t / "r.yaml", tiny_recipe(t / "run", 4));
  const std::string cmd = "train --config " + (t / "r.yaml") + " --resume-if-exists";
  auto first = run_ptune(cmd + " --stop-at 2");
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_TRUE(contains(first.err, "no checkpoint yet: starting")) << first.err;
  EXPECT_EQ(nlohmann::json::parse(first.out)["step"], 2);
  auto second = run_ptune(cmd);
  ASSERT_EQ(second.exit_code, 0) << second.err;
  EXPECT_TRUE(contains(second.err, "a checkpoint exists: resuming")) << second.err;
  EXPECT_EQ(nlohmann::json::parse(second.out)["step"], 4);
}
