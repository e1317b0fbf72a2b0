// Out-of-line part of DQT_CHECK so the fast path stays a single branch.
#include "core/base/check.h"

#include <cstdio>
#include <cstdlib>

namespace dqt {

CheckFailure::CheckFailure(const char* file, int line, const char* condition) {
  stream_ << file << ":" << line << ": DQT_CHECK failed: " << condition << " ";
}

CheckFailure::~CheckFailure() {
  std::fprintf(stderr, "%s\n", stream_.str().c_str());
  std::fflush(stderr);
  std::abort();
}

}  // namespace dqt
