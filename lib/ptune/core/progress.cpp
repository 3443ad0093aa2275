// The terminal progress line (see progress.h).
#include "ptune/core/progress.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "ptune/core/text.h"

namespace ptune {

namespace {

using Clock = std::chrono::steady_clock;

bool enabled = true;
std::mutex mutex;
std::string shown;  // the line on screen now; empty = none

bool on_terminal() {
  const char* env = std::getenv("PTUNE_PROGRESS");
  if (env && std::strcmp(env, "0") == 0) return false;
  return enabled && isatty(STDERR_FILENO);
}

// Takes the terminal's current line down (carriage return, erase to its end). With the mutex held.
void clear_line() {
  std::fputs("\r\033[K", stderr);
  std::fflush(stderr);
}

void draw(const std::string& line) {  // with the mutex held
  std::fputs("\r\033[K", stderr);
  std::fputs(line.c_str(), stderr);
  std::fflush(stderr);
  shown = line;
}

}  // namespace

void set_progress_enabled(bool on) {
  enabled = on;
}

ProgressLine::ProgressLine(std::string label, int64_t total)
    : label_(std::move(label)),
      total_(total),
      active_(on_terminal()),
      start_(Clock::now()),
      last_draw_(start_) {}

ProgressLine::~ProgressLine() {
  if (!active_) return;
  std::lock_guard<std::mutex> lock(mutex);
  if (shown.empty()) return;
  clear_line();
  shown.clear();
}

std::string ProgressLine::render(int64_t done, const std::string& detail) const {
  const double elapsed = std::chrono::duration<double>(Clock::now() - start_).count();
  std::string s = label_ + " " + std::to_string(done);
  if (total_ > 0) {
    constexpr int kWidth = 20;
    const double frac = std::min(1.0, static_cast<double>(done) / static_cast<double>(total_));
    const int filled = static_cast<int>(frac * kWidth);
    s += fmt::format("/{} [{}{}] {:3.0f}%", total_, std::string(filled, '#'),
                     std::string(kWidth - filled, '.'), 100 * frac);
  }
  if (!detail.empty()) s += " | " + detail;
  s += " | " + format_duration(elapsed);
  const int64_t progressed = done - first_;
  if (total_ > 0 && progressed > 0 && done < total_)
    s += " eta " + format_duration(elapsed / static_cast<double>(progressed) *
                                   static_cast<double>(total_ - done));
  return s;
}

void ProgressLine::update(int64_t done, const std::string& detail) {
  if (!active_) return;
  if (first_ < 0) first_ = done > 0 ? done - 1 : 0;
  const auto now = Clock::now();
  const bool last = total_ > 0 && done >= total_;
  const bool due = !drawn_ || last || now - last_draw_ >= std::chrono::seconds(1);
  if (!due) return;
  std::lock_guard<std::mutex> lock(mutex);
  draw(render(done, detail));
  last_draw_ = now;
  drawn_ = true;
}

namespace progress_detail {

void before_log() {
  std::lock_guard<std::mutex> lock(mutex);
  if (!shown.empty()) clear_line();
}

void after_log() {
  std::lock_guard<std::mutex> lock(mutex);
  if (shown.empty()) return;
  std::fputs(shown.c_str(), stderr);
  std::fflush(stderr);
}

}  // namespace progress_detail

}  // namespace ptune
