// metrics.jsonl (lib/ptune/train/metrics.h): record layout, appending, and the truncation a
// resumed run makes.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "ptune/train/metrics.h"
#include "test_util.h"

using namespace ptune;

namespace {

std::vector<nlohmann::json> lines(const std::string& path) {
  std::vector<nlohmann::json> out;
  std::ifstream in(path);
  for (std::string l; std::getline(in, l);) out.push_back(nlohmann::json::parse(l));
  return out;
}

}  // namespace

TEST(Metrics, StepComesFirstThenKeysInOrder) {
  EXPECT_EQ(metric_json({{"loss", 1.5}, {"step", int64_t{3}}, {"lr", 0.25}, {"run", "a"}}),
            R"({"step":3,"loss":1.5,"lr":0.25,"run":"a"})");
}

TEST(Metrics, AppendsAndAResumeDropsTheStepsItRepeats) {
  test::TempDir dir;
  const std::string path = dir / "metrics.jsonl";
  {
    MetricsSink sink(path);
    for (int64_t s : {2, 4, 6}) sink.write({{"step", s}, {"loss", 1.0 / s}});
  }
  {
    MetricsSink resumed(path, /*truncate_after_step=*/4);  // resumed from checkpoint-4
    resumed.write({{"step", int64_t{6}}, {"loss", 0.5}});
  }
  const auto m = lines(path);
  ASSERT_EQ(m.size(), 3u);
  EXPECT_EQ(m[0]["step"], 2);
  EXPECT_EQ(m[1]["step"], 4);
  EXPECT_EQ(m[2]["step"], 6);
  EXPECT_EQ(m[2]["loss"], 0.5);  // the resumed run's record, not the first run's
}

TEST(Metrics, AnUnwritableFileIsAnErrorNamingIt) {
  try {
    MetricsSink sink("/nonexistent-dir/metrics.jsonl");
    FAIL();
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent-dir/metrics.jsonl"), std::string::npos);
  }
}
