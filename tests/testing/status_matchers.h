// GoogleTest matchers for absl::Status (Debian's abseil ships none): IsOk(), StatusIs(code,
// substr).
#pragma once

#include <cstdlib>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"

namespace dqt::testing {

inline const absl::Status& GetStatus(const absl::Status& s) { return s; }
template <typename T>
const absl::Status& GetStatus(const absl::StatusOr<T>& s) {
  return s.status();
}

MATCHER(IsOk, "is OK") {
  const absl::Status& s = GetStatus(arg);
  if (!s.ok()) *result_listener << "status: " << s.ToString();
  return s.ok();
}

MATCHER_P2(StatusIs, code, substring,
           std::string("has code ") + absl::StatusCodeToString(code) +
               " and a message containing \"" + std::string(substring) + "\"") {
  const absl::Status& s = GetStatus(arg);
  *result_listener << "status: " << s.ToString();
  return s.code() == code && std::string(s.message()).find(substring) != std::string::npos;
}

// Path of a fetched data file: $DQT_DATA_DIR/name (ctest sets it; tests/run.sh fetches the data).
inline std::string DataPath(const std::string& name) {
  const char* dir = std::getenv("DQT_DATA_DIR");
  return std::string(dir ? dir : "data_cache") + "/" + name;
}

}  // namespace dqt::testing
