// stderr logger setup.
#include "ptune/core/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>

#include "ptune/core/error.h"

namespace ptune {

void setup_logging(const std::string& level, bool quiet) {
  auto logger = spdlog::stderr_color_mt("ptune");
  logger->set_pattern("[%H:%M:%S] [%^%l%$] %v");
  spdlog::set_default_logger(logger);
  auto lvl = spdlog::level::from_str(level);
  if (lvl == spdlog::level::off && level != "off")
    usage_error("--log-level: unknown level '{}'; expected trace, debug, info, warn, error or off",
                level);
  if (quiet && lvl < spdlog::level::warn) lvl = spdlog::level::warn;
  spdlog::set_level(lvl);
}

}  // namespace ptune
