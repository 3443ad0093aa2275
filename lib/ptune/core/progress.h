// A progress line on a terminal: one stderr line redrawn in place (step/total, a bar, the
// caller's numbers, elapsed, ETA), at most once a second and at the last step. Log lines go
// above it: the log sink (log.cpp) clears the line before a message and redraws it after.
// Off when stderr is not a terminal (pipes and files get the log lines only), with --quiet,
// and with PTUNE_PROGRESS=0.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace ptune {

class ProgressLine {
 public:
  // `total` 0: unknown (a count and the caller's numbers, no bar or ETA).
  ProgressLine(std::string label, int64_t total);
  ~ProgressLine();  // erases the line
  ProgressLine(const ProgressLine&) = delete;
  ProgressLine& operator=(const ProgressLine&) = delete;

  // `done` of total so far, with `detail` ("loss 2.31 | 1520 tok/s") after the bar.
  void update(int64_t done, const std::string& detail = "");
  bool active() const { return active_; }

 private:
  std::string render(int64_t done, const std::string& detail) const;

  std::string label_;
  int64_t total_;
  int64_t first_ = -1;  // `done` at the first update (a resumed run starts past 0)
  bool active_;
  std::chrono::steady_clock::time_point start_, last_draw_;
  bool drawn_ = false;
};

// Whether progress lines are drawn at all (setup_logging turns them off for --quiet).
void set_progress_enabled(bool on);

namespace progress_detail {
// Called by the log sink around each message.
void before_log();
void after_log();
}  // namespace progress_detail

}  // namespace ptune
