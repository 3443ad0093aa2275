// The report in a real browser (label browser): reports of real tiny runs rendered by headless
// Chromium; the page's self-check (report.cpp, URL #selfcheck) counts, in each chart's plot
// area, the pixels of its datasets' colours and lists its legend, and collects script errors.
// Skipped, with the reason, where no Chromium is installed.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "ptune/report/report.h"
#include "ptune/train/trainer.h"
#include "tiny_run.h"

namespace ptune {
namespace {

using namespace test;

std::string browser() {
  for (const char* name : {"chromium", "chromium-browser", "google-chrome"})
    if (run_shell(std::string("command -v ") + name).exit_code == 0) return name;
  return "";
}

// Unescapes the text of the DOM's <pre id="selfcheck">.
nlohmann::json selfcheck_of(const std::string& dom) {
  const std::string open = "<pre id=\"selfcheck\">";
  const size_t at = dom.find(open);
  if (at == std::string::npos) return nullptr;
  std::string text = dom.substr(at + open.size(), dom.find("</pre>", at) - at - open.size());
  for (auto [from, to] : {std::pair<std::string, std::string>{"&lt;", "<"},
                          {"&gt;", ">"},
                          {"&quot;", "\""},
                          {"&amp;", "&"}})
    for (size_t i = 0; (i = text.find(from, i)) != std::string::npos; i += to.size())
      text.replace(i, from.size(), to);
  return nlohmann::json::parse(text, nullptr, false);
}

TEST(ReportInBrowser, ChartsOfTwoRunsAreDrawnWithBothInEveryLegend) {
  const std::string chrome = browser();
  if (chrome.empty())
    GTEST_SKIP() << "no Chromium on this machine (scripts/setup.sh installs Debian's chromium)";
  TempDir t;
  const std::string full = t / "full", lora = t / "lora";
  const TrainSummary s = train_text(tiny_recipe(full, 12));
  EXPECT_EQ(s.report, full + "/report.html");
  EXPECT_TRUE(exists(full + "/report.html")) << "train.report writes one by default";
  train_text(tiny_recipe(lora, 12), {}, {"method.type=lora", "optim.lr=1.0e-2"});
  const std::string html = t / "compare.html";
  write_report({full, lora}, html);

  const std::string flags =
      " --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --hide-scrollbars"
      " --window-size=1400,1900 --virtual-time-budget=10000 ";
  const RunResult dom = run_shell(chrome + flags + "--dump-dom 'file://" + html + "#selfcheck'");
  ASSERT_EQ(dom.exit_code, 0) << dom.err;
  const nlohmann::json check = selfcheck_of(dom.out);
  ASSERT_TRUE(check.is_object()) << "no self-check in the page:\n" << dom.out.substr(0, 2000);
  EXPECT_TRUE(check["errors"].empty()) << check["errors"].dump();
  EXPECT_EQ(dom.err.find("Uncaught"), std::string::npos) << dom.err;
  // Training loss, eval loss, perplexity, accuracy, learning rate, gradient norm, tokens/s.
  ASSERT_GE(check["charts"].size(), 7u) << check.dump();
  for (const auto& chart : check["charts"]) {
    SCOPED_TRACE(chart["title"].get<std::string>());
    EXPECT_GT(chart["data_pixels"].get<int64_t>(), 100) << "the curves were not drawn";
    const auto legend = chart["legend"].get<std::vector<std::string>>();
    for (const char* run : {"full", "lora"})
      EXPECT_NE(std::find(legend.begin(), legend.end(), run), legend.end())
          << run << " missing from the legend";
  }
  // A screenshot for people: scripts/report_screenshot.sh keeps one in docs/.
  const std::string png = t / "report.png";
  const RunResult shot =
      run_shell(chrome + flags + "--screenshot=" + png + " 'file://" + html + "'");
  ASSERT_EQ(shot.exit_code, 0) << shot.err;
  ASSERT_TRUE(exists(png));
  EXPECT_GT(std::filesystem::file_size(png), 20000u) << "an empty page";
}

}  // namespace
}  // namespace ptune
