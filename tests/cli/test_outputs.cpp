// Files users keep are never at risk: for every command that writes, a failing run leaves an
// existing output byte-identical, a good one replaces it whole, and an input given as the
// output is refused (merge-lora: test_merge_lora.cpp; report onto its input: test_cli.cpp).
#include <gtest/gtest.h>

#include <filesystem>
#include <map>

#include "tiny_run.h"

namespace fs = std::filesystem;
using namespace ptune::test;

namespace {

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

// Every file under `dir` (relative name -> bytes).
std::map<std::string, std::string> snapshot(const std::string& dir) {
  std::map<std::string, std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file()) out[fs::relative(e.path(), dir).string()] = read_text(e.path());
  return out;
}

}  // namespace

// A run that fails after resuming (its loss goes non-finite) beside the run's final/ leaves
// final/ byte-identical; a good resume replaces it by a complete export; a recipe whose
// output.dir is the model it trains from is refused.
TEST(Outputs, TrainAndItsExportNeverLeaveAPartialFinal) {
  TempDir t;
  write_text(t / "r.yaml", tiny_recipe(t / "run", 4));
  ASSERT_EQ(run_ptune("-q train --config " + (t / "r.yaml")).exit_code, 0);
  const auto final_files = snapshot(t / "run/final");
  ASSERT_TRUE(final_files.count("model.safetensors"));
  auto bad = run_ptune("-q train --config " + (t / "r.yaml") +
                       " --resume --set train.steps=8 --set optim.lr=1e30");
  EXPECT_EQ(bad.exit_code, 1) << bad.err;
  EXPECT_TRUE(contains(bad.err, "loss is")) << bad.err;
  EXPECT_EQ(snapshot(t / "run/final"), final_files);
  for (const auto& e : fs::directory_iterator(t / "run"))
    EXPECT_FALSE(contains(e.path().filename().string(), "tmp")) << e.path();

  auto good = run_ptune("-q train --config " + (t / "r.yaml") + " --resume --set train.steps=8");
  ASSERT_EQ(good.exit_code, 0) << good.err;
  EXPECT_NE(snapshot(t / "run/final").at("model.safetensors"), final_files.at("model.safetensors"));
  EXPECT_EQ(run_ptune("-q info --model " + (t / "run/final")).exit_code, 0);

  const auto model = snapshot(t / "run/final");
  for (const std::string& out : {t / "run/final", t / "run"}) {
    auto onto = run_ptune("-q train --config " + (t / "r.yaml") +
                          " --set model.path=" + (t / "run/final") + " --set output.dir=" + out);
    EXPECT_EQ(onto.exit_code, 2) << onto.err;
    EXPECT_TRUE(contains(onto.err, "is model.path")) << onto.err;
  }
  EXPECT_EQ(snapshot(t / "run/final"), model);
}

// tokenizer train: a failed training leaves the old model; a good one replaces it; the corpus
// is never the output.
TEST(Outputs, TokenizerTrainReplacesOnlyWithACompleteModelAndNeverItsCorpus) {
  TempDir t;
  const std::string corpus = tiny_assets() + "/train.txt";
  write_text(t / "tok.model", "an older model");
  auto small = run_ptune("-q tokenizer train -i " + corpus + " -o " + (t / "tok.model") +
                         " --vocab-size 270");
  EXPECT_EQ(small.exit_code, 2) << small.err;
  EXPECT_EQ(read_text(t / "tok.model"), "an older model");
  auto good = run_ptune("-q tokenizer train -i " + corpus + " -o " + (t / "tok.model") +
                        " --vocab-size 400");
  ASSERT_EQ(good.exit_code, 0) << good.err;
  auto enc = run_ptune("-q tokenizer encode --model " + (t / "tok.model"), "a dog\n");
  EXPECT_EQ(enc.exit_code, 0) << enc.err;
  for (const auto& e : fs::directory_iterator(t.path()))
    EXPECT_FALSE(contains(e.path().filename().string(), "tmp")) << e.path();

  write_text(t / "corpus.model", read_text(corpus));
  auto onto = run_ptune("-q tokenizer train -i " + (t / "corpus.model") + " -o " +
                        (t / "corpus.model") + " --vocab-size 400");
  EXPECT_EQ(onto.exit_code, 2) << onto.err;
  EXPECT_TRUE(contains(onto.err, "which is the input corpus")) << onto.err;
  EXPECT_EQ(read_text(t / "corpus.model"), read_text(corpus));
}

// report: a failing report leaves the existing file as it was.
TEST(Outputs, AFailedReportLeavesTheExistingReport) {
  TempDir t;
  write_text(t / "r.html", "an older report");
  auto r = run_ptune("-q report " + (t / "no-run") + " -o " + (t / "r.html"));
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(read_text(t / "r.html"), "an older report");
}
