// parse_json: nlohmann's parser under ptune's nesting-depth limit.
#include <gtest/gtest.h>

#include <string>

#include "ptune/core/json.h"

namespace ptune {
namespace {

std::string nested(int levels) {
  return std::string(levels, '[') + std::string(levels, ']');
}

TEST(Json, NestingUpToTheLimitParsesAndOneMoreLevelIsAnError) {
  nlohmann::json j = parse_json(nested(kMaxJsonDepth));
  for (int i = 1; i < kMaxJsonDepth; ++i) j = j.at(0);
  EXPECT_TRUE(j.is_array() && j.empty());
  EXPECT_THROW(parse_json(nested(kMaxJsonDepth + 1)), JsonTooDeep);
  EXPECT_THROW(parse_json("{\"a\": " + nested(kMaxJsonDepth) + "}"), JsonTooDeep);
  try {
    parse_json(std::string(1 << 22, '['));  // 4 MiB of '[': stopped at the limit, not parsed on
    FAIL() << "no error";
  } catch (const nlohmann::json::exception& e) {
    EXPECT_EQ(std::string(e.what()), "arrays and objects nested deeper than " +
                                         std::to_string(kMaxJsonDepth) + " levels (ptune's limit)");
  }
}

TEST(Json, SyntaxErrorsAreNlohmannsAndTheCallbackSeesEveryKey) {
  EXPECT_THROW(parse_json("{\"a\": 1,}"), nlohmann::json::parse_error);
  std::string keys;
  auto j = parse_json(R"({"a": {"b": [1, {"c": 2}]}})",
                      [&](int, nlohmann::json::parse_event_t e, nlohmann::json& v) {
                        if (e == nlohmann::json::parse_event_t::key) keys += v.get<std::string>();
                        return true;
                      });
  EXPECT_EQ(keys, "abc");
  EXPECT_EQ(j["a"]["b"][1]["c"], 2);
  EXPECT_TRUE(parse_json_or_discarded("{").is_discarded());
  EXPECT_TRUE(parse_json_or_discarded(nested(kMaxJsonDepth + 1)).is_discarded());
  EXPECT_EQ(parse_json_or_discarded("{\"step\": 3}")["step"], 3);
}

}  // namespace
}  // namespace ptune
