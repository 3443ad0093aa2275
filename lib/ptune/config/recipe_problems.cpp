// Problem collection and reporting for the recipe loader (see recipe_problems.h).
#include "ptune/config/recipe_problems.h"

#include <algorithm>

#include <spdlog/fmt/fmt.h>

namespace ptune {

std::string parent_path(const std::string& path) {
  auto cut = path.find_last_of(".[");
  return cut == std::string::npos ? std::string() : path.substr(0, cut);
}

Problems::Problems(std::string source) : source_(std::move(source)) {
  lines_[""] = 1;
}

void Problems::note_line(const std::string& path, int line) {
  lines_.emplace(path, line);
}

void Problems::note_override(const std::string& path, const std::string& text, int index) {
  overrides_[path] = {text, index};
}

std::string Problems::where(const std::string& path, int line, bool* from_override,
                            int* order) const {
  *from_override = false;
  // A value set by --set, or anything below it, is reported against that --set.
  for (std::string p = path;; p = parent_path(p)) {
    auto it = overrides_.find(p);
    if (it != overrides_.end()) {
      *from_override = true;
      *order = it->second.second;
      return "--set " + it->second.first;
    }
    if (p.empty()) break;
  }
  if (line <= 0) {
    // A missing key is reported at the nearest enclosing key that is in the file.
    for (std::string p = path;; p = parent_path(p)) {
      auto it = lines_.find(p);
      if (it != lines_.end()) {
        line = it->second;
        break;
      }
    }
  }
  *order = line;
  return fmt::format("{}:{}", source_, line);
}

void Problems::add(const std::string& path, const std::string& message, const std::string& hint,
                   int line) {
  Entry e;
  std::string loc = where(path, line, &e.from_override, &e.order);
  e.text = fmt::format("{}: {} ({})", path.empty() ? "recipe" : path, message, loc);
  if (!hint.empty()) e.text += "; " + hint;
  entries_.push_back(std::move(e));
}

void Problems::add_override(const std::string& text, const std::string& message, int index) {
  entries_.push_back({fmt::format("{}: {} (--set {})", text, message, text), true, index});
}

std::string Problems::report() const {
  std::vector<Entry> sorted = entries_;
  // File problems top to bottom, then override problems in the order given.
  std::stable_sort(sorted.begin(), sorted.end(), [](const Entry& a, const Entry& b) {
    if (a.from_override != b.from_override) return !a.from_override;
    return a.order < b.order;
  });
  std::string out = fmt::format("recipe {} has {} problem{}:", source_, sorted.size(),
                                sorted.size() == 1 ? "" : "s");
  for (const auto& e : sorted) out += "\n  " + e.text;
  return out;
}

}  // namespace ptune
