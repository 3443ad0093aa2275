// JSON parsing under a nesting-depth limit (see json.h).
#include "ptune/core/json.h"

#include <string>

namespace ptune {

namespace {

const std::string& too_deep_message() {
  static const std::string m = "arrays and objects nested deeper than " +
                               std::to_string(kMaxJsonDepth) + " levels (ptune's limit)";
  return m;
}

}  // namespace

JsonTooDeep::JsonTooDeep() : nlohmann::json::exception(0, too_deep_message().c_str()) {}

nlohmann::json parse_json(std::string_view text,
                          const nlohmann::json::parser_callback_t& callback) {
  using Event = nlohmann::json::parse_event_t;
  // `depth` counts the containers around the event's value: an array or object starting at
  // depth kMaxJsonDepth would be level kMaxJsonDepth + 1.
  auto limited = [&](int depth, Event event, nlohmann::json& parsed) {
    if ((event == Event::object_start || event == Event::array_start) && depth >= kMaxJsonDepth)
      throw JsonTooDeep();
    return callback ? callback(depth, event, parsed) : true;
  };
  return nlohmann::json::parse(text.begin(), text.end(), limited);
}

nlohmann::json parse_json_or_discarded(std::string_view text) {
  try {
    return parse_json(text);
  } catch (const nlohmann::json::exception&) {
    return nlohmann::json(nlohmann::json::value_t::discarded);
  }
}

}  // namespace ptune
