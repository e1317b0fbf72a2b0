// The terminal progress line (see progress.h).
#include "launch/progress.h"

#include <unistd.h>

#include <cstdio>

#include "absl/strings/str_format.h"

namespace dqt {

std::string FormatSeconds(double seconds) {
  const long total = static_cast<long>(seconds + 0.5);
  if (total >= 3600) {
    return absl::StrFormat("%d:%02d:%02d", total / 3600, total / 60 % 60, total % 60);
  }
  return absl::StrFormat("%d:%02d", total / 60, total % 60);
}

ProgressLine::ProgressLine(std::string what, double total, std::string unit)
    : what_(std::move(what)),
      unit_(std::move(unit)),
      total_(total),
      enabled_(::isatty(STDERR_FILENO) != 0),
      start_(Clock::now()),
      last_draw_(start_ - std::chrono::seconds(1)) {}

void ProgressLine::Update(double done, std::string_view detail) {
  if (!enabled_) return;
  const Clock::time_point now = Clock::now();
  if (now - last_draw_ < std::chrono::milliseconds(200) && done < total_) return;
  last_draw_ = now;
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const double rate = elapsed > 0 ? done / elapsed : 0;
  const std::string eta =
      rate > 0 && total_ > done ? "  ETA " + FormatSeconds((total_ - done) / rate) : "";
  // Whole units for counts (tokens, stages) and large totals, one decimal for small sizes.
  const int digits = total_ >= 100 || total_ == static_cast<long long>(total_) ? 0 : 1;
  std::fprintf(stderr, "\r\033[K%s %.*f/%.*f %s (%.0f%%)  %.*f %s/s  elapsed %s%s  %.*s",
               what_.c_str(), digits, done, digits, total_, unit_.c_str(),
               total_ > 0 ? 100 * done / total_ : 100.0, digits, rate, unit_.c_str(),
               FormatSeconds(elapsed).c_str(), eta.c_str(), static_cast<int>(detail.size()),
               detail.data());
  std::fflush(stderr);
  drawn_ = true;
}

void ProgressLine::Finish() {
  if (drawn_) std::fputc('\n', stderr);
  drawn_ = false;
}

}  // namespace dqt
