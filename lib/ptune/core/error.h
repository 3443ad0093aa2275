// The one error type of ptune, and the check macro for internal invariants.
// Only apps/ptune/main.cpp turns an Error into an exit code: Usage -> 2 (bad flags,
// bad recipe, bad input the user can fix), Runtime -> 1 (I/O failure, corrupt file).
#pragma once

#include <spdlog/fmt/fmt.h>

#include <stdexcept>
#include <string>

namespace ptune {

enum class ErrorKind { Usage, Runtime };

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& what) : std::runtime_error(what), kind_(kind) {}
  ErrorKind kind() const { return kind_; }
  int exit_code() const { return kind_ == ErrorKind::Usage ? 2 : 1; }

 private:
  ErrorKind kind_;
};

// Errors the user fixes by changing a flag, recipe or input: exit 2.
template <typename... Args>
[[noreturn]] void usage_error(fmt::format_string<Args...> f, Args&&... args) {
  throw Error(ErrorKind::Usage, fmt::format(f, std::forward<Args>(args)...));
}

// Failures at run time (I/O, corrupt files, numerical trouble): exit 1.
template <typename... Args>
[[noreturn]] void runtime_error(fmt::format_string<Args...> f, Args&&... args) {
  throw Error(ErrorKind::Runtime, fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace ptune

// Internal invariant: a failure is a bug in ptune, reported with file and line.
#define PTUNE_CHECK(cond, ...)                                                                     \
  do {                                                                                             \
    if (!(cond))                                                                                   \
      ::ptune::runtime_error("internal check failed at {}:{}: {} ({})", __FILE__, __LINE__, #cond, \
                             ::fmt::format(__VA_ARGS__));                                          \
  } while (0)
