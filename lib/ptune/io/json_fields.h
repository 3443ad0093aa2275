// Typed reads of a JSON object's fields that name the file and the field in every error, for
// the JSON files ptune reads (config.json, adapter_config.json, mtp_config.json). A file that
// is not JSON, or has a field of the wrong type, is corrupt: a Runtime error (exit 1).
// Whether a well-typed value is supported is the caller's check.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace ptune {

// The JSON object in the file at `path` (Runtime error when unreadable, not JSON, not an object).
nlohmann::json read_json_object(const std::string& path);

class JsonFields {
 public:
  // `where` names the file in messages; `prefix` the enclosing object ("rope_scaling.").
  JsonFields(const nlohmann::json& j, std::string where, std::string prefix = "");

  bool has(const char* key) const;  // present and not null
  const nlohmann::json& at(const char* key) const { return j_.at(key); }
  int64_t integer(const char* key, int64_t fallback) const;
  int64_t required_integer(const char* key) const;
  double number(const char* key, double fallback) const;
  bool boolean(const char* key, bool fallback) const;
  std::string string(const char* key, const std::string& fallback) const;
  std::vector<std::string> strings(const char* key, const std::vector<std::string>& fallback) const;
  std::vector<int64_t> integers(const char* key, const std::vector<int64_t>& fallback) const;
  // "<where>: <prefix><key> must be <expected>, got <value>".
  [[noreturn]] void wrong(const char* key, const char* expected) const;
  const std::string& where() const { return where_; }

 private:
  const nlohmann::json& j_;
  std::string where_, prefix_;
};

}  // namespace ptune
