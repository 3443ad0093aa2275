// Recipe loading: YAML text -> --set overrides applied to the tree -> structs through the key
// table (recipe_keys.h) -> value checks; every problem is reported in one Usage error.
// recipe_to_yaml writes through the same table, so load(recipe_to_yaml(r)) == r.
#include "ptune/config/recipe_loader.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "ptune/config/recipe_checks.h"
#include "ptune/config/recipe_keys.h"
#include "ptune/config/recipe_yaml_reader.h"
#include "ptune/core/cpu.h"
#include "ptune/core/error.h"

namespace ptune {
namespace {

// Applies "a.b.c=value" to `root`, creating maps on the way; the value is parsed as YAML so
// lists work: optim.betas=[0.9,0.99].
void apply_override(YAML::Node& root, const std::string& text, int index, Problems& problems) {
  auto eq = text.find('=');
  if (eq == std::string::npos) {
    problems.add_override(text, "expected key.path=value, got no '='", index);
    return;
  }
  std::string key = text.substr(0, eq);
  std::vector<std::string> names;
  std::stringstream ss(key);
  for (std::string name; std::getline(ss, name, '.');) names.push_back(name);
  if (key.empty() || key.back() == '.' ||
      std::find(names.begin(), names.end(), "") != names.end()) {
    problems.add_override(
        text, "expected key.path=value with a key like optim.lr, got '" + key + "'", index);
    return;
  }
  problems.note_override(key, text, index);
  YAML::Node value;
  try {
    value = YAML::Load(text.substr(eq + 1));
  } catch (const YAML::ParserException& e) {
    problems.add(key, "value is not valid YAML: " + e.msg);
    return;
  }
  YAML::Node map;
  map.reset(root);  // reset, not =: Node::operator= would overwrite the referenced node
  std::string path;
  for (size_t i = 0; i + 1 < names.size(); ++i) {
    path += (i ? "." : "") + names[i];
    YAML::Node next = map[names[i]];
    if (!next.IsDefined() || next.IsNull()) {
      map[names[i]] = YAML::Node(YAML::NodeType::Map);
      problems.note_override(path, text, index);
    } else if (!next.IsMap()) {
      problems.add(key, fmt::format("cannot set it: {} is {}, not a map", path, describe(next)));
      return;
    }
    map.reset(map[names[i]]);
  }
  map[names.back()] = value;
}

// Shortest text that reads back as the same double, kept recognisably a float: 65536.0, 1e-08.
std::string format_double(double v) {
  std::string s = fmt::format("{}", v);
  if (s.find_first_of(".eEn") == std::string::npos) s += ".0";
  return s;
}

// The writing side of the key table.
class YamlWriter {
 public:
  YamlWriter() { out_ << YAML::BeginMap; }
  std::string finish() {
    out_ << YAML::EndMap;
    return std::string(out_.c_str()) + "\n";
  }

  template <class Fn>
  void section(const char* key, Fn&& fn) {
    out_ << YAML::Key << key << YAML::Value << YAML::BeginMap;
    fn();
    out_ << YAML::EndMap;
  }
  template <class Fn>
  void optional_section(const char* key, bool present, Fn&& fn) {
    if (present)
      section(key, fn);
    else
      out_ << YAML::Key << key << YAML::Value << YAML::Null;
  }
  void field(const char* key, int64_t v) { out_ << YAML::Key << key << YAML::Value << v; }
  void field(const char* key, uint64_t v) { out_ << YAML::Key << key << YAML::Value << v; }
  void field(const char* key, bool v) { out_ << YAML::Key << key << YAML::Value << v; }
  void every_field(const char* key, int64_t v) { field(key, v); }
  void field(const char* key, double v) {
    out_ << YAML::Key << key << YAML::Value << format_double(v);
  }
  void field(const char* key, const std::string& v) {
    out_ << YAML::Key << key << YAML::Value << v;
  }
  template <class E, std::enable_if_t<std::is_enum_v<E>, int> = 0>
  void field(const char* key, E v) {
    field(key, std::string(name_of(v)));
  }
  template <class E>
  void field(const char* key, const std::optional<E>& v) {
    field(key, std::string(v ? name_of(*v) : ""));
  }
  template <class E>
  void auto_field(const char* key, E v, bool) {  // the resolved value
    field(key, v);
  }
  template <class T>
  void field(const char* key, const std::vector<T>& v) {
    out_ << YAML::Key << key << YAML::Value << YAML::Flow << YAML::BeginSeq;
    for (const auto& x : v) out_ << x;
    out_ << YAML::EndSeq;
  }
  void pair(const char* key, double a, double b) {
    out_ << YAML::Key << key << YAML::Value << YAML::Flow << YAML::BeginSeq << format_double(a)
         << format_double(b) << YAML::EndSeq;
  }

 private:
  YAML::Emitter out_;
};

}  // namespace

Recipe load_recipe_text(const std::string& yaml, const std::string& source,
                        const std::vector<std::string>& overrides) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml);
  } catch (const YAML::ParserException& e) {
    usage_error("{}:{}: YAML syntax error: {}", source, e.mark.line + 1, e.msg);
  }
  Problems problems(source);
  if (!root.IsDefined() || root.IsNull()) root = YAML::Node(YAML::NodeType::Map);
  if (!root.IsMap()) {
    problems.add("",
                 "expected a map of sections (model, tokenizer, data, ...), got " + describe(root));
    throw Error(ErrorKind::Usage, problems.report());
  }
  for (size_t i = 0; i < overrides.size(); ++i)
    apply_override(root, overrides[i], static_cast<int>(i), problems);

  Recipe r;
  r.model.arch.vocab_size = 0;  // recipe default: the tokenizer's vocabulary size
  YamlReader reader(root, problems);
  visit_recipe(reader, r);
  reader.finish();
  check_recipe(r, problems);
  if (!problems.empty()) throw Error(ErrorKind::Usage, problems.report());
  // --dry-run, the run's recipe.yaml and logs show what auto resolved to.
  if (r.precision.dtype_was_auto) r.precision.dtype = auto_compute_dtype(r.train.device);
  r.data.train.chat = r.data.eval.chat = r.data.chat;  // what the chat format reads
  r.source = source;
  return r;
}

Recipe load_recipe(const std::string& path, const std::vector<std::string>& overrides) {
  if (path == "-") {
    std::stringstream ss;
    ss << std::cin.rdbuf();
    return load_recipe_text(ss.str(), "<stdin>", overrides);
  }
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    usage_error("recipe: cannot read '{}': it is a directory, expected a .yaml file", path);
  std::ifstream in(path);
  if (!in) usage_error("recipe: cannot read '{}': {}", path, std::strerror(errno));
  std::stringstream ss;
  ss << in.rdbuf();
  return load_recipe_text(ss.str(), path, overrides);
}

std::string recipe_to_yaml(const Recipe& r) {
  YamlWriter w;
  visit_recipe(w, r);
  return w.finish();
}

}  // namespace ptune
