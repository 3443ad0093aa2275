// CLI tier for MTP: `ptune generate` (stdin prompts, jsonl records, speculative decoding,
// error messages) and `ptune eval`'s per-head fields, on a tiny recipe trained with heads.
#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <sstream>

#include "tiny_run.h"

using namespace ptune::test;

namespace {

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

// A tiny model with 2 parallel heads, trained once per test binary.
const std::string& tiny_mtp_model() {
  static TempDir dir;
  static bool ready = false;
  if (!ready) {
    write_text(dir / "r.yaml", tiny_recipe(dir / "run", 8, "mtp: {style: parallel, heads: 2}"));
    auto r = run_ptune("-q train --config " + (dir / "r.yaml"));
    EXPECT_EQ(r.exit_code, 0) << r.err;
    ready = true;
  }
  static const std::string final_dir = dir / "run/final";
  return final_dir;
}

}  // namespace

TEST(CliGenerate, StdinPromptsGiveOneLineEachAndSpeculativeMatchesGreedy) {
  const std::string m = tiny_mtp_model();
  auto plain = run_ptune("generate --model " + m + " --max-new-tokens 12 --format jsonl",
                         "cat (noun)\ndog\n");
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  auto spec =
      run_ptune("generate --model " + m + " --max-new-tokens 12 --format jsonl --speculative mtp",
                "cat (noun)\ndog\n");
  ASSERT_EQ(spec.exit_code, 0) << spec.err;
  std::istringstream a(plain.out), b(spec.out);
  std::string la, lb;
  int lines = 0;
  int64_t new_tokens = 0;
  while (std::getline(a, la) && std::getline(b, lb)) {
    auto ja = nlohmann::json::parse(la), jb = nlohmann::json::parse(lb);
    if (ja.contains("summary")) {  // the last record: the totals
      EXPECT_EQ(ja["prompts"], 2);
      EXPECT_EQ(jb["prompts"], 2);
      EXPECT_EQ(ja["new_tokens"].get<int64_t>(), new_tokens);
      EXPECT_GT(ja["tokens_per_s"].get<double>(), 0.0);
      EXPECT_TRUE(jb.contains("acceptance"));
      EXPECT_FALSE(ja.contains("acceptance"));
      EXPECT_FALSE(std::getline(a, la)) << "the summary is the last record";
      ++lines;
      break;
    }
    new_tokens += ja["new_tokens"].get<int64_t>();
    EXPECT_EQ(ja["tokens"], jb["tokens"]);
    EXPECT_EQ(ja["text"], jb["text"]);
    EXPECT_TRUE(jb.contains("acceptance"));
    EXPECT_TRUE(jb.contains("mean_accepted_length"));
    EXPECT_FALSE(ja.contains("acceptance"));
    ++lines;
  }
  EXPECT_EQ(lines, 3);
  EXPECT_TRUE(contains(spec.err, "mean accepted length")) << spec.err;

  auto text = run_ptune("-q generate --model " + m + " --max-new-tokens 5 --prompt cat");
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_EQ(std::count(text.out.begin(), text.out.end(), '\n'), 1) << text.out;
}

TEST(CliGenerate, SeededSamplingIsReproducible) {
  const std::string m = tiny_mtp_model();
  const std::string args = "-q generate --model " + m +
                           " --prompt cat --temperature 1 --top-k 20 --top-p 0.9 "
                           "--max-new-tokens 16 --format jsonl --seed ";
  auto a = run_ptune(args + "3"), b = run_ptune(args + "3"), c = run_ptune(args + "4");
  ASSERT_EQ(a.exit_code, 0) << a.err;
  auto tokens = [](const std::string& out) {  // the first record (then the summary)
    return nlohmann::json::parse(out.substr(0, out.find('\n')))["tokens"];
  };
  EXPECT_EQ(tokens(a.out), tokens(b.out));
  EXPECT_NE(tokens(a.out), tokens(c.out));
}

TEST(CliGenerate, ErrorsAreNamed) {
  const std::string m = tiny_mtp_model();
  TempDir t;
  auto adapter = run_ptune("generate --model " + m + " --adapter " + (t / "a") + " --prompt x");
  EXPECT_EQ(adapter.exit_code, 2);
  EXPECT_TRUE(contains(adapter.err, "not an adapter directory")) << adapter.err;
  // A model dir without heads cannot draft.
  write_text(t / "r.yaml", tiny_recipe(t / "plain", 2));
  ASSERT_EQ(run_ptune("-q train --config " + (t / "r.yaml")).exit_code, 0);
  auto nohead =
      run_ptune("generate --model " + (t / "plain/final") + " --speculative mtp --prompt x");
  EXPECT_EQ(nohead.exit_code, 2);
  EXPECT_TRUE(contains(nohead.err, "has no mtp_heads.safetensors")) << nohead.err;
}

TEST(CliEval, ReportsPerHeadLossAndAccuracy) {
  const std::string m = tiny_mtp_model();
  auto r =
      run_ptune("-q eval --model " + m + " --data " + tiny_assets() + "/eval.txt --seq-len 32");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  for (const char* k : {"loss", "mtp_loss_1", "mtp_accuracy_1", "mtp_loss_2", "mtp_accuracy_2"})
    EXPECT_TRUE(j.contains(k)) << k << ": " << r.out;
  EXPECT_GT(j["mtp_loss_2"].get<double>(), 0.0);
}
