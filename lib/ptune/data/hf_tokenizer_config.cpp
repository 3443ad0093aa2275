// tokenizer_config.json / generation_config.json as transformers writes them: a special token
// is a string or an AddedToken object {"content": ..., "__type": "AddedToken"}; chat_template
// is a string or a list of {"name", "template"} (the "default" one is used); eos_token_id is
// an integer or a list.
#include "ptune/data/hf_tokenizer_config.h"

#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "ptune/core/error.h"
#include "ptune/core/json.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace ptune {
namespace {

std::optional<json> read_json(const std::string& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return std::nullopt;
  std::ifstream in(path, std::ios::binary);
  if (!in) runtime_error("{}: cannot read", path);
  try {
    json j = parse_json(std::string(std::istreambuf_iterator<char>(in), {}));
    if (!j.is_object()) runtime_error("{}: expected a JSON object, got {}", path, j.type_name());
    return j;
  } catch (const json::exception& e) {  // parse errors, numbers beyond double
    runtime_error("{}: not valid JSON ({})", path, e.what());
  }
}

std::optional<std::string> token(const json& j, const char* key, const std::string& path) {
  if (!j.contains(key) || j[key].is_null()) return std::nullopt;
  const json& v = j[key];
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string())
    return v["content"].get<std::string>();
  runtime_error("{}: {} must be a string, an AddedToken object or null, got {}", path, key,
                v.dump().substr(0, 80));
}

std::optional<bool> flag(const json& j, const char* key, const std::string& path) {
  if (!j.contains(key) || j[key].is_null()) return std::nullopt;
  if (!j[key].is_boolean())
    runtime_error("{}: {} must be true or false, got {}", path, key, j[key].dump().substr(0, 80));
  return j[key].get<bool>();
}

std::string chat_template(const json& v, const std::string& path) {
  if (v.is_null()) return "";
  if (v.is_string()) return v.get<std::string>();
  if (v.is_array()) {  // [{"name": "default", "template": ...}, {"name": "tool_use", ...}]
    for (const json& t : v)
      if (t.is_object() && t.value("name", "") == "default" && t.contains("template") &&
          t["template"].is_string())
        return t["template"].get<std::string>();
    runtime_error("{}: chat_template is a list without a \"default\" template", path);
  }
  runtime_error("{}: chat_template must be a string or a list of named templates, got {}", path,
                v.type_name());
}

}  // namespace

HfTokenizerConfig read_hf_tokenizer_config(const std::string& dir) {
  HfTokenizerConfig c;
  const std::string tc = dir + "/tokenizer_config.json";
  if (auto j = read_json(tc)) {
    c.files.push_back(tc);
    c.bos_token = token(*j, "bos_token", tc);
    c.eos_token = token(*j, "eos_token", tc);
    c.pad_token = token(*j, "pad_token", tc);
    c.add_bos_token = flag(*j, "add_bos_token", tc);
    c.add_eos_token = flag(*j, "add_eos_token", tc);
    if (j->contains("chat_template")) {
      c.chat_template = chat_template((*j)["chat_template"], tc);
      c.chat_template_source = tc;
    }
  }
  // Newer transformers save the template in a file of its own, which wins over the field.
  const std::string jinja = dir + "/chat_template.jinja";
  std::error_code ec;
  if (fs::is_regular_file(jinja, ec)) {
    std::ifstream in(jinja, std::ios::binary);
    c.chat_template.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    c.chat_template_source = jinja;
    c.files.push_back(jinja);
  }
  const std::string gc = dir + "/generation_config.json";
  if (auto j = read_json(gc)) {
    c.files.push_back(gc);
    const json& v = j->contains("eos_token_id") ? (*j)["eos_token_id"] : json();
    if (v.is_number_integer()) {
      c.generation_eos.push_back(v.get<int64_t>());
    } else if (v.is_array()) {
      for (const json& e : v) {
        if (!e.is_number_integer())
          runtime_error("{}: eos_token_id must be an integer or a list of integers, got {}", gc,
                        v.dump().substr(0, 80));
        c.generation_eos.push_back(e.get<int64_t>());
      }
    } else if (!v.is_null()) {
      runtime_error("{}: eos_token_id must be an integer or a list of integers, got {}", gc,
                    v.dump().substr(0, 80));
    }
  }
  return c;
}

}  // namespace ptune
