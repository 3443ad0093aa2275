// Test helper: capture a ptune::Error's message and kind.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "ptune/core/error.h"

namespace ptune::test {

// Runs `f`, which must throw ptune::Error of `kind`; returns its message ("" and a test
// failure otherwise).
inline std::string error_of(const std::function<void()>& f, ErrorKind kind = ErrorKind::Runtime) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(static_cast<int>(e.kind()), static_cast<int>(kind)) << e.what();
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "threw a non-ptune exception: " << e.what();
    return "";
  }
  ADD_FAILURE() << "did not throw";
  return "";
}

}  // namespace ptune::test

// EXPECT that `haystack` contains `needle`, printing both when it does not.
#define EXPECT_CONTAINS(haystack, needle)                          \
  EXPECT_NE(std::string(haystack).find(needle), std::string::npos) \
      << "message: " << (haystack) << "\nexpected to contain: " << (needle)
