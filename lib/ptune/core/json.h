// JSON parsing for every JSON file ptune reads: nlohmann::json::parse with a nesting-depth
// limit. nlohmann-json parses any depth, but copying, comparing and dump()ing a value recurse
// once per level, so a file of a few megabytes of '[' would overflow the stack on the way to an
// error message. No file ptune reads nests near the limit (tokenizer.json about 6 levels).
#pragma once

#include <nlohmann/json.hpp>

#include <string_view>

namespace ptune {

constexpr int kMaxJsonDepth = 128;

// Thrown by parse_json for a value nested deeper than kMaxJsonDepth. A nlohmann::json::exception,
// so that callers report it where they report syntax errors.
class JsonTooDeep : public nlohmann::json::exception {
 public:
  JsonTooDeep();
};

// nlohmann::json::parse(text, callback); a value nested deeper than kMaxJsonDepth throws
// JsonTooDeep. `callback` (optional) sees every event, as with nlohmann's.
nlohmann::json parse_json(std::string_view text,
                          const nlohmann::json::parser_callback_t& callback = nullptr);

// The same, but a discarded value instead of an exception when `text` is not JSON or too deep
// (as nlohmann::json::parse(text, nullptr, false)).
nlohmann::json parse_json_or_discarded(std::string_view text);

}  // namespace ptune
