// stderr logger setup.
#include "ptune/core/log.h"

#include <spdlog/sinks/sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>

#include "ptune/core/error.h"
#include "ptune/core/progress.h"

namespace ptune {

namespace {

// stderr, with a terminal's progress line (progress.h) taken down for each message and put
// back after it.
class ProgressAwareSink final : public spdlog::sinks::sink {
 public:
  ProgressAwareSink() : inner_(std::make_shared<spdlog::sinks::stderr_color_sink_mt>()) {}
  void log(const spdlog::details::log_msg& msg) override {
    progress_detail::before_log();
    inner_->log(msg);
    inner_->flush();
    progress_detail::after_log();
  }
  void flush() override { inner_->flush(); }
  void set_pattern(const std::string& pattern) override { inner_->set_pattern(pattern); }
  void set_formatter(std::unique_ptr<spdlog::formatter> f) override {
    inner_->set_formatter(std::move(f));
  }

 private:
  std::shared_ptr<spdlog::sinks::sink> inner_;
};

}  // namespace

void setup_logging(const std::string& level, bool quiet) {
  auto logger = std::make_shared<spdlog::logger>("ptune", std::make_shared<ProgressAwareSink>());
  logger->set_pattern("[%H:%M:%S] [%^%l%$] %v");
  spdlog::set_default_logger(logger);
  auto lvl = spdlog::level::from_str(level);
  if (lvl == spdlog::level::off && level != "off")
    usage_error("--log-level: unknown level '{}'; expected trace, debug, info, warn, error or off",
                level);
  if (quiet && lvl < spdlog::level::warn) lvl = spdlog::level::warn;
  spdlog::set_level(lvl);
  // The progress line is information: shown at info level and below.
  set_progress_enabled(lvl <= spdlog::level::info);
}

void set_log_rank(int rank, int world_size) {
  if (world_size <= 1) return;
  spdlog::default_logger()->set_pattern(fmt::format("[%H:%M:%S] [rank {}] [%^%l%$] %v", rank));
  if (rank == 0) return;
  if (spdlog::get_level() == spdlog::level::info) spdlog::set_level(spdlog::level::warn);
  set_progress_enabled(false);
}

}  // namespace ptune
