// A one-line progress display for the long tools (dqt_prepare, dqt_eval, dqt_export), like
// dqt_worker's: redrawn in place on stderr, at most five times a second, and only when stderr
// is a terminal (logs and pipes get nothing).
#pragma once

#include <chrono>
#include <string>
#include <string_view>

namespace dqt {

class ProgressLine {
 public:
  // `what` leads the line ("tokenizing"); progress counts `unit`s ("MiB", "tokens") of `total`.
  ProgressLine(std::string what, double total, std::string unit);
  ~ProgressLine() { Finish(); }
  ProgressLine(const ProgressLine&) = delete;
  ProgressLine& operator=(const ProgressLine&) = delete;

  // Shows `done` of the total, the rate, the time left and `detail` (e.g. the current file).
  void Update(double done, std::string_view detail = "");
  // Ends the line (a newline) if anything was drawn.
  void Finish();
  bool enabled() const { return enabled_; }

 private:
  using Clock = std::chrono::steady_clock;
  std::string what_, unit_;
  double total_;
  bool enabled_, drawn_ = false;
  Clock::time_point start_, last_draw_;
};

// m:ss (h:mm:ss from an hour), for elapsed times and ETAs.
std::string FormatSeconds(double seconds);

}  // namespace dqt
