// Collects every problem found while loading a recipe, each tied to its YAML key path, and
// renders them as one report: "<path>: <problem> (<file>:<line>)", or "(--set k=v)" for a
// value that came from an override. Internal to the recipe loader.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace ptune {

class Problems {
 public:
  explicit Problems(std::string source);

  // Where `path` ("data.train.path", "optim.betas[1]", "" = the root) sits in the file (1-based).
  void note_line(const std::string& path, int line);
  // `path` (and everything below it) was set by override number `index`, `text` ("optim.lr=1e-4").
  void note_override(const std::string& path, const std::string& text, int index);

  // A problem at `path`; `line` > 0 names the line explicitly (e.g. a duplicate key).
  void add(const std::string& path, const std::string& message, const std::string& hint = "",
           int line = 0);
  // A problem with a malformed override, which has no key path: `text` is the override.
  void add_override(const std::string& text, const std::string& message, int index);

  bool empty() const { return entries_.empty(); }
  // "recipe <file> has N problems:" and one indented line per problem: file problems by
  // line, then override problems in the order the overrides were given.
  std::string report() const;

 private:
  struct Entry {
    std::string text;
    bool from_override;
    int order;  // line in the file, or the override's index
  };
  std::string where(const std::string& path, int line, bool* from_override, int* order) const;

  std::string source_;
  std::map<std::string, int> lines_;
  std::map<std::string, std::pair<std::string, int>> overrides_;  // path -> (text, index)
  std::vector<Entry> entries_;
};

// "a.b[2]" -> "a.b", "a.b" -> "a", "a" -> "".
std::string parent_path(const std::string& path);

}  // namespace ptune
