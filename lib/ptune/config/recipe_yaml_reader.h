// Reads a parsed YAML tree into the recipe structs through the key table (recipe_keys.h):
// each field is type-checked where it is read, a missing key keeps its default, and keys the
// table never asks for are reported as unknown with a "did you mean" hint. Internal.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "ptune/config/recipe_problems.h"
#include "ptune/core/choice.h"

namespace ptune {

// How a YAML value reads in a message: 'abc', nothing, a list, a map.
std::string describe(const YAML::Node& n);

class YamlReader {
 public:
  YamlReader(const YAML::Node& root, Problems& problems);

  template <class Fn>
  void section(const char* key, Fn&& fn) {
    bool present = false;
    optional_section(key, present, fn);
  }
  // A map `key` (null or absent = present false, all defaults).
  template <class Fn>
  void optional_section(const char* key, bool& present, Fn&& fn) {
    std::string path;
    YAML::Node node = take(key, &path);
    present = node.IsDefined() && !node.IsNull();
    if (present && !node.IsMap()) {
      problems_.add(path, "expected a map, got " + describe(node));
      present = false;
    }
    push(path, present ? node : YAML::Node());
    fn();
    pop();
  }

  void field(const char* key, int64_t& v);
  void field(const char* key, uint64_t& v);
  void field(const char* key, double& v);
  void field(const char* key, bool& v);
  // Every how many: true = 1, false = 0, or a non-negative integer.
  void every_field(const char* key, int64_t& v);
  void field(const char* key, std::string& v);
  void field(const char* key, std::vector<std::string>& v);  // a list, or one scalar
  void field(const char* key, std::vector<int64_t>& v);
  void pair(const char* key, double& a, double& b);  // [a, b]

  // A name from E's table (core/choice.h). A table entry named "" is the empty value.
  template <class E, std::enable_if_t<std::is_enum_v<E>, int> = 0>
  void field(const char* key, E& v) {
    std::string path, name;
    if (!choice_name(key, &path, &name)) return;
    if (auto e = parse_choice<E>(name))
      v = *e;
    else
      bad_choice<E>(path, name, parse_choice<E>("") ? " (or empty)" : "");
  }
  // The same, where empty (or null) means none.
  template <class E>
  void field(const char* key, std::optional<E>& v) {
    std::string path, name;
    if (!choice_name(key, &path, &name)) return;
    if (name.empty())
      v.reset();
    else if (auto e = parse_choice<E>(name))
      v = *e;
    else
      bad_choice<E>(path, name, " (or empty)");
  }
  // A name from E's table or "auto" (then `is_auto` is set and `v` is left for the loader).
  template <class E>
  void auto_field(const char* key, E& v, bool& is_auto) {
    std::string path, name;
    if (!choice_name(key, &path, &name)) return;
    is_auto = name == "auto";
    if (is_auto) return;
    if (auto e = parse_choice<E>(name))
      v = *e;
    else
      bad_choice<E>(path, name, "", "auto, ");
  }

  // Reports every key the table never read. Call once, after the visit.
  void finish();

 private:
  struct Entry {
    std::string key;
    int line;
    YAML::Node value;
    bool used = false;
  };
  struct Frame {
    std::string path;
    std::vector<Entry> entries;
  };

  YAML::Node take(const char* key, std::string* path);
  void push(const std::string& path, const YAML::Node& map);
  void pop();
  template <class T>
  bool scalar(const std::string& path, const YAML::Node& n, const char* expected, T* out);
  std::string suggest(const std::string& parent, const std::string& key) const;
  // Reads `key` as a string (null = ""): false when absent or not a string (reported).
  bool choice_name(const char* key, std::string* path, std::string* name);
  template <class E>
  void bad_choice(const std::string& path, const std::string& name, const char* empty_note,
                  const char* first = "") {
    problems_.add(path, "expected one of " + std::string(first) + choice_names<E>() + empty_note +
                            ", got '" + name + "'");
  }

  Problems& problems_;
  std::vector<Frame> stack_;
  std::vector<std::string> known_;                      // every key path the table reads
  std::vector<std::pair<std::string, Entry>> unknown_;  // (parent path, entry)
};

}  // namespace ptune
