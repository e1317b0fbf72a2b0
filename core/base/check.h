// DQT_CHECK: fatal checks for broken invariants inside the program (never compiled out).
// Prints file:line, the condition and any streamed message, then aborts the process.
#pragma once

#include <sstream>

namespace dqt {

class CheckFailure {
 public:
  CheckFailure(const char* file, int line, const char* condition);
  [[noreturn]] ~CheckFailure();
  template <typename T>
  CheckFailure& operator<<(const T& value) {
    stream_ << value;
    return *this;
  }

 private:
  std::ostringstream stream_;
};

// Lets `DQT_CHECK(c) << ...` parse as one expression of type void.
struct CheckVoidify {
  void operator&(const CheckFailure&) {}
};

}  // namespace dqt

#define DQT_CHECK(condition) \
  (condition) ? (void)0      \
              : ::dqt::CheckVoidify() & ::dqt::CheckFailure(__FILE__, __LINE__, #condition)

#define DQT_CHECK_OK(expr)                                             \
  do {                                                                 \
    const ::absl::Status dqt_check_status_ = (expr);                   \
    DQT_CHECK(dqt_check_status_.ok()) << dqt_check_status_.ToString(); \
  } while (0)
