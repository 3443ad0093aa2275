// YAML -> recipe structs with type checks and unknown-key hints (see recipe_yaml_reader.h).
// Hints use Levenshtein distance, first among keys of the same map, then among the last
// names of every known key path (so train.lr suggests optim.lr).
#include "ptune/config/recipe_yaml_reader.h"

#include <algorithm>
#include <numeric>

#include <spdlog/fmt/fmt.h>

namespace ptune {
namespace {

std::string join(const std::string& parent, const std::string& key) {
  return parent.empty() ? key : parent + "." + key;
}

std::string last_name(const std::string& path) {
  auto dot = path.rfind('.');
  return dot == std::string::npos ? path : path.substr(dot + 1);
}

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  std::iota(row.begin(), row.end(), 0);
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

// How far apart a typo and a candidate may be to be suggested; SIZE_MAX = too far.
size_t closeness(const std::string& typo, const std::string& known) {
  size_t limit = typo.size() <= 3 ? 1 : typo.size() <= 6 ? 2 : 3;
  size_t d = edit_distance(typo, known);
  if (d <= limit) return d;
  bool prefix = std::min(typo.size(), known.size()) >= 4 &&
                (typo.rfind(known, 0) == 0 || known.rfind(typo, 0) == 0);
  return prefix ? limit : SIZE_MAX;
}

}  // namespace

std::string describe(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Scalar:
      return "'" + n.Scalar() + "'";
    case YAML::NodeType::Sequence:
      return fmt::format("a list of {}", n.size());
    case YAML::NodeType::Map:
      return "a map";
    default:
      return "nothing";
  }
}

YamlReader::YamlReader(const YAML::Node& root, Problems& problems) : problems_(problems) {
  push("", root);
}

void YamlReader::push(const std::string& path, const YAML::Node& map) {
  Frame f{path, {}};
  if (map.IsMap()) {
    for (const auto& kv : map) {
      int line = kv.first.Mark().line + 1;
      std::string key = kv.first.IsScalar() ? kv.first.Scalar() : describe(kv.first);
      std::string child = join(path, key);
      auto dup = std::find_if(f.entries.begin(), f.entries.end(),
                              [&](const Entry& e) { return e.key == key; });
      if (dup != f.entries.end()) {
        problems_.add(child, fmt::format("duplicate key, first given at line {}", dup->line), "",
                      line);
        continue;
      }
      problems_.note_line(child, line);
      f.entries.push_back({key, line, kv.second});
    }
  }
  stack_.push_back(std::move(f));
}

void YamlReader::pop() {
  for (auto& e : stack_.back().entries)
    if (!e.used) unknown_.emplace_back(stack_.back().path, e);
  stack_.pop_back();
}

YAML::Node YamlReader::take(const char* key, std::string* path) {
  *path = join(stack_.back().path, key);
  known_.push_back(*path);
  for (auto& e : stack_.back().entries) {
    if (e.key == key) {
      e.used = true;
      return e.value;
    }
  }
  return YAML::Node(YAML::NodeType::Undefined);
}

template <class T>
bool YamlReader::scalar(const std::string& path, const YAML::Node& n, const char* expected,
                        T* out) {
  T v{};
  if (n.IsScalar() && YAML::convert<T>::decode(n, v)) {
    *out = v;
    return true;
  }
  problems_.add(path, fmt::format("expected {}, got {}", expected, describe(n)));
  return false;
}

void YamlReader::field(const char* key, int64_t& v) {
  std::string path;
  YAML::Node n = take(key, &path);
  if (n.IsDefined()) scalar(path, n, "an integer", &v);
}

void YamlReader::field(const char* key, uint64_t& v) {
  std::string path;
  YAML::Node n = take(key, &path);
  if (n.IsDefined()) scalar(path, n, "a non-negative integer", &v);
}

void YamlReader::field(const char* key, double& v) {
  std::string path;
  YAML::Node n = take(key, &path);
  if (n.IsDefined()) scalar(path, n, "a number", &v);
}

void YamlReader::field(const char* key, bool& v) {
  std::string path;
  YAML::Node n = take(key, &path);
  if (n.IsDefined()) scalar(path, n, "true or false", &v);
}

void YamlReader::every_field(const char* key, int64_t& v) {
  std::string path;
  YAML::Node n = take(key, &path);
  if (!n.IsDefined()) return;
  bool on = false;
  if (n.IsScalar() && YAML::convert<bool>::decode(n, on))
    v = on ? 1 : 0;
  else
    scalar(path, n, "true, false or a non-negative integer", &v);
}

void YamlReader::field(const char* key, std::string& v) {
  std::string path;
  YAML::Node n = take(key, &path);
  if (!n.IsDefined()) return;
  if (n.IsNull())
    v.clear();
  else
    scalar(path, n, "a string", &v);
}

bool YamlReader::choice_name(const char* key, std::string* path, std::string* name) {
  YAML::Node n = take(key, path);
  if (!n.IsDefined()) return false;
  if (n.IsNull()) {
    name->clear();
    return true;
  }
  return scalar(*path, n, "a string", name);
}

void YamlReader::field(const char* key, std::vector<std::string>& v) {
  std::string path;
  YAML::Node n = take(key, &path);
  if (!n.IsDefined()) return;
  if (n.IsScalar()) {
    v = {n.Scalar()};
    return;
  }
  if (!n.IsSequence() && !n.IsNull()) {
    problems_.add(path, "expected a list of strings, got " + describe(n));
    return;
  }
  std::vector<std::string> items;
  for (size_t i = 0; i < n.size(); ++i) {
    std::string item = fmt::format("{}[{}]", path, i);
    problems_.note_line(item, n[i].Mark().line + 1);
    std::string s;
    if (scalar(item, n[i], "a string", &s)) items.push_back(s);
  }
  v = items;
}

void YamlReader::field(const char* key, std::vector<int64_t>& v) {
  std::string path;
  YAML::Node n = take(key, &path);
  if (!n.IsDefined()) return;
  if (n.IsScalar()) {
    int64_t x;
    if (scalar(path, n, "a list of integers", &x)) v = {x};
    return;
  }
  if (!n.IsSequence() && !n.IsNull()) {
    problems_.add(path, "expected a list of integers, got " + describe(n));
    return;
  }
  std::vector<int64_t> items;
  for (size_t i = 0; i < n.size(); ++i) {
    std::string item = fmt::format("{}[{}]", path, i);
    problems_.note_line(item, n[i].Mark().line + 1);
    int64_t x;
    if (scalar(item, n[i], "an integer", &x)) items.push_back(x);
  }
  v = items;
}

void YamlReader::pair(const char* key, double& a, double& b) {
  std::string path;
  YAML::Node n = take(key, &path);
  if (!n.IsDefined()) return;
  if (!n.IsSequence() || n.size() != 2) {
    problems_.add(path, "expected a list of 2 numbers, got " + describe(n));
    return;
  }
  double* out[2] = {&a, &b};
  for (size_t i = 0; i < 2; ++i) {
    std::string item = fmt::format("{}[{}]", path, i);
    problems_.note_line(item, n[i].Mark().line + 1);
    scalar(item, n[i], "a number", out[i]);
  }
}

std::string YamlReader::suggest(const std::string& parent, const std::string& key) const {
  size_t best = SIZE_MAX;
  std::string hint;
  for (const auto& k : known_) {
    if (parent_path(k) != parent) continue;
    size_t d = closeness(key, last_name(k));
    if (d < best) best = d, hint = last_name(k);
  }
  if (!hint.empty()) return "did you mean " + hint + "?";
  for (const auto& k : known_) {
    size_t d = closeness(key, last_name(k));
    if (d < best) best = d, hint = k;
  }
  return hint.empty() ? "" : "did you mean " + hint + "?";
}

void YamlReader::finish() {
  while (!stack_.empty()) pop();
  for (const auto& [parent, e] : unknown_)
    problems_.add(join(parent, e.key), "unknown key", suggest(parent, e.key), e.line);
}

}  // namespace ptune
