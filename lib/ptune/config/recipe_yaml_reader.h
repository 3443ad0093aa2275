// Reads a parsed YAML tree into the recipe structs through the key table (recipe_keys.h):
// each field is type-checked where it is read, a missing key keeps its default, and keys the
// table never asks for are reported as unknown with a "did you mean" hint. Internal.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "ptune/config/recipe_problems.h"

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
  void field(const char* key, std::string& v);
  void field(const char* key, std::vector<std::string>& v);  // a list, or one scalar
  void field(const char* key, std::vector<int64_t>& v);
  void pair(const char* key, double& a, double& b);  // [a, b]

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

  Problems& problems_;
  std::vector<Frame> stack_;
  std::vector<std::string> known_;                      // every key path the table reads
  std::vector<std::pair<std::string, Entry>> unknown_;  // (parent path, entry)
};

}  // namespace ptune
