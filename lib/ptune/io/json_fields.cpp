// Typed JSON field reads (see json_fields.h).
#include "ptune/io/json_fields.h"

#include "ptune/core/error.h"
#include "ptune/core/json.h"
#include "ptune/io/fs.h"

namespace ptune {

using nlohmann::json;

json read_json_object(const std::string& path) {
  json j;
  try {
    j = parse_json(read_file(path));
  } catch (const json::exception& e) {
    runtime_error("{}: not valid JSON: {}", path, e.what());
  }
  if (!j.is_object()) runtime_error("{}: expected a JSON object, got {}", path, j.type_name());
  return j;
}

JsonFields::JsonFields(const json& j, std::string where, std::string prefix)
    : j_(j), where_(std::move(where)), prefix_(std::move(prefix)) {}

bool JsonFields::has(const char* key) const {
  return j_.contains(key) && !j_[key].is_null();
}

void JsonFields::wrong(const char* key, const char* expected) const {
  runtime_error("{}: {}{} must be {}, got {}", where_, prefix_, key, expected, j_[key].dump());
}

int64_t JsonFields::integer(const char* key, int64_t fallback) const {
  if (!has(key)) return fallback;
  if (!j_[key].is_number_integer()) wrong(key, "an integer");
  return j_[key].get<int64_t>();
}

int64_t JsonFields::required_integer(const char* key) const {
  if (!has(key))
    runtime_error("{}: missing required field {}{} (an integer)", where_, prefix_, key);
  return integer(key, 0);
}

double JsonFields::number(const char* key, double fallback) const {
  if (!has(key)) return fallback;
  if (!j_[key].is_number()) wrong(key, "a number");
  return j_[key].get<double>();
}

bool JsonFields::boolean(const char* key, bool fallback) const {
  if (!has(key)) return fallback;
  if (!j_[key].is_boolean()) wrong(key, "true or false");
  return j_[key].get<bool>();
}

std::string JsonFields::string(const char* key, const std::string& fallback) const {
  if (!has(key)) return fallback;
  if (!j_[key].is_string()) wrong(key, "a string");
  return j_[key].get<std::string>();
}

std::vector<std::string> JsonFields::strings(const char* key,
                                             const std::vector<std::string>& fallback) const {
  if (!has(key)) return fallback;
  const json& v = j_[key];
  if (!v.is_array()) wrong(key, "a list of strings");
  std::vector<std::string> out;
  for (const auto& x : v) {
    if (!x.is_string()) wrong(key, "a list of strings");
    out.push_back(x.get<std::string>());
  }
  return out;
}

std::vector<int64_t> JsonFields::integers(const char* key,
                                          const std::vector<int64_t>& fallback) const {
  if (!has(key)) return fallback;
  const json& v = j_[key];
  if (!v.is_array()) wrong(key, "a list of integers");
  std::vector<int64_t> out;
  for (const auto& x : v) {
    if (!x.is_number_integer()) wrong(key, "a list of integers");
    out.push_back(x.get<int64_t>());
  }
  return out;
}

}  // namespace ptune
