// Small string helpers shared across the library.
#pragma once

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <ctime>
#include <string>

namespace ptune {

inline bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Seconds as a person reads a duration: "42s", "3m07s", "2h15m".
inline std::string format_duration(double s) {
  const auto total = static_cast<int64_t>(std::max(0.0, s));
  if (total >= 3600) return fmt::format("{}h{:02}m", total / 3600, (total % 3600) / 60);
  if (total >= 60) return fmt::format("{}m{:02}s", total / 60, total % 60);
  return fmt::format("{}s", total);
}

// The time now, UTC, ISO 8601: "2026-12-03T10:43:14Z".
inline std::string utc_now() {
  const std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

}  // namespace ptune
