// Shared by the fuzz targets: a scratch directory per fuzzing process, files written from the
// input, and the rule that ptune::Error (a clear message, exit 1 or 2) is the expected end of
// bad input. Anything else escaping a target (another exception, a crash, a sanitizer report,
// a leak, a hang or an allocation beyond -rss_limit_mb) is a finding.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

namespace ptune::fuzz {

// /dev/shm/ptune-fuzz-<pid> (or $TMPDIR's), created on first use, logging off.
const std::string& scratch_dir();

void write_file(const std::string& path, const std::string& bytes);

// The input as text, split at the first `sep`; second is empty without one.
std::pair<std::string, std::string> split(const uint8_t* data, size_t size, const std::string& sep);

}  // namespace ptune::fuzz

// Runs the statements given; a ptune::Error is the expected outcome for bad input.
#define PTUNE_FUZZ_BODY(...)        \
  try {                             \
    __VA_ARGS__                     \
  } catch (const ::ptune::Error&) { \
  }                                 \
  return 0
