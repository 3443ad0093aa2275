// The one logging header: spdlog to stderr. Results never go through here (stdout is
// for results); logs, progress and warnings do.
#pragma once

#include <spdlog/spdlog.h>

#include <string>

namespace ptune {

// Configures the default logger: stderr, "[ptune] [level] message". `level` is one of
// trace, debug, info, warn, error, off; quiet forces warn.
void setup_logging(const std::string& level, bool quiet);

// One process of `world_size` (a distributed run): lines say "[rank N]"; ranks other than 0
// log warnings and errors only (unless the level is debug or trace) and show no progress line.
void set_log_rank(int rank, int world_size);

}  // namespace ptune

#define PTUNE_INFO(...) ::spdlog::info(__VA_ARGS__)
#define PTUNE_WARN(...) ::spdlog::warn(__VA_ARGS__)
#define PTUNE_DEBUG(...) ::spdlog::debug(__VA_ARGS__)
#define PTUNE_ERROR(...) ::spdlog::error(__VA_ARGS__)
