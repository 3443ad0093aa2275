// Closed sets of named choices (llama.cpp's enum <-> string tables): each enum has one table
// of {value, name} next to it, found by argument-dependent lookup as `choices(E{})`; the
// recipe loader, the checks, the file readers and every message read that table.
#pragma once

#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace ptune {

template <class E>
struct Choice {
  E value;
  const char* name;
};

// The name of `e` in its table.
template <class E>
const char* name_of(E e) {
  for (const auto& c : choices(E{}))
    if (c.value == e) return c.name;
  return "?";
}

// The value named `name`, or nullopt.
template <class E>
std::optional<E> parse_choice(std::string_view name) {
  for (const auto& c : choices(E{}))
    if (name == c.name) return c.value;
  return std::nullopt;
}

// The table's non-empty names, in table order.
template <class E>
std::vector<std::string> choice_name_list() {
  std::vector<std::string> out;
  for (const auto& c : choices(E{}))
    if (*c.name) out.push_back(c.name);
  return out;
}

// "a, b, c": the table's non-empty names, for messages.
template <class E>
std::string choice_names() {
  std::string out;
  for (const auto& n : choice_name_list<E>()) out += (out.empty() ? "" : ", ") + n;
  return out;
}

// Streams a choice by its name (test failure messages, logs).
template <class E, class = decltype(choices(E{}))>
std::ostream& operator<<(std::ostream& os, E e) {
  return os << name_of(e);
}

}  // namespace ptune
