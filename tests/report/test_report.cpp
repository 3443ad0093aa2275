// The HTML report's data side: runs read from their files (a run in progress included), the
// page self-contained and safe to embed, bad input named. What the browser draws:
// tests/report/test_report_browser.cpp.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "ptune/core/error.h"
#include "ptune/report/report.h"
#include "test_util.h"

namespace ptune {
namespace {

using test::read_text;
using test::TempDir;
using test::write_text;

// A run dir with `metrics` as its metrics.jsonl and a small recipe.
std::string make_run(const TempDir& t, const std::string& name, const std::string& metrics,
                     const std::string& lr) {
  const std::string dir = t / name;
  std::filesystem::create_directories(dir);
  write_text(dir + "/metrics.jsonl", metrics);
  write_text(dir + "/recipe.yaml",
             "method: {type: lora}\noptim: {lr: " + lr + "}\noutput: {dir: " + dir + "}\n");
  return dir;
}

// The RUNS array the page embeds.
nlohmann::json runs_of(const std::string& html) {
  const std::string tag = "const RUNS = ";
  const size_t at = html.find(tag);
  EXPECT_NE(at, std::string::npos);
  const size_t end = html.find(";\n", at);
  std::string text = html.substr(at + tag.size(), end - at - tag.size());
  for (size_t i = 0; (i = text.find("<\\/", i)) != std::string::npos;) text.replace(i, 3, "</");
  return nlohmann::json::parse(text);
}

class Report : public ::testing::Test {
 protected:
  void SetUp() override {
    // The data side needs no real Chart.js: a stand-in file, inlined as it is.
    write_text(t_ / "chart.js", "/* chart stand-in */ window.Chart = function () {};");
    setenv("PTUNE_CHART_JS", (t_ / "chart.js").c_str(), 1);
  }
  void TearDown() override { unsetenv("PTUNE_CHART_JS"); }
  TempDir t_;
};

TEST_F(Report, EmbedsEveryRunAndChartJsInOneFile) {
  const std::string a = make_run(t_, "a",
                                 "{\"step\":1,\"loss\":2.5,\"lr\":0.001}\n"
                                 "{\"step\":2,\"loss\":2.0,\"eval_loss\":2.2}\n",
                                 "1.0e-3");
  // A run in progress: its last line is being written.
  const std::string b = make_run(t_, "b", "{\"step\":1,\"loss\":3.0}\n{\"step\":2,\"lo", "2.0e-3");
  const std::string html = render_report({a, b});
  EXPECT_NE(html.find("/* chart stand-in */"), std::string::npos);
  EXPECT_EQ(html.find("<script src"), std::string::npos) << "nothing loaded from elsewhere";
  const auto runs = runs_of(html);
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs[0]["name"], "a");
  EXPECT_EQ(runs[0]["records"].size(), 2u);
  EXPECT_EQ(runs[0]["records"][1]["eval_loss"], 2.2);
  EXPECT_EQ(runs[1]["records"].size(), 1u) << "the half-written line is left out";
  EXPECT_EQ(runs[0]["recipe"]["optim.lr"], "1.0e-3");
  EXPECT_EQ(runs[1]["recipe"]["method.type"], "lora");
}

TEST_F(Report, TextFromTheRunCannotCloseTheScript) {
  const std::string a =
      make_run(t_, "a", "{\"step\":1,\"loss\":1.0}\n", "'</script><script>alert(1)</script>'");
  const std::string html = render_report({a});
  const size_t data = html.find("const RUNS = ");
  ASSERT_NE(data, std::string::npos);
  EXPECT_EQ(html.find("</script><script>alert", data), std::string::npos);
  EXPECT_EQ(runs_of(html)[0]["recipe"]["optim.lr"], "</script><script>alert(1)</script>");
}

TEST_F(Report, BadInputIsNamed) {
  auto error_of = [](const std::function<void()>& f) -> std::string {
    try {
      f();
    } catch (const Error& e) {
      return e.what();
    }
    return "no error";
  };
  EXPECT_NE(error_of([&] { render_report({t_ / "missing"}); }).find("is not a run directory"),
            std::string::npos);
  const std::string bad = make_run(t_, "bad", "{\"step\":1}\nnot json\n{\"step\":3}\n", "1");
  EXPECT_NE(error_of([&] { render_report({bad}); }).find("metrics.jsonl:2: not a metrics record"),
            std::string::npos);
  const std::string a = make_run(t_, "a", "{\"step\":1,\"loss\":1.0}\n", "1");
  const std::string before = read_text(a + "/metrics.jsonl");
  EXPECT_NE(error_of([&] { write_report({a}, a + "/metrics.jsonl"); }).find("is the run's input"),
            std::string::npos);
  EXPECT_EQ(read_text(a + "/metrics.jsonl"), before);
  setenv("PTUNE_CHART_JS", (t_ / "no-chart.js").c_str(), 1);
  EXPECT_NE(error_of([&] { write_report({a}, t_ / "r.html"); }).find("libjs-chart.js"),
            std::string::npos);
  EXPECT_FALSE(test::exists(t_ / "r.html")) << "no partial report";
}

}  // namespace
}  // namespace ptune
