// Status helpers: Debian's abseil 20220623 has no status macros, so dqt carries its own.
// Use absl::Status / absl::StatusOr for failures from outside the program (files, configs, peers).
#pragma once

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

#define DQT_CONCAT_INNER_(a, b) a##b
#define DQT_CONCAT_(a, b) DQT_CONCAT_INNER_(a, b)

// Returns from the enclosing function if `expr` (an absl::Status) is not OK.
#define DQT_RETURN_IF_ERROR(expr)              \
  do {                                         \
    ::absl::Status dqt_status_ = (expr);       \
    if (!dqt_status_.ok()) return dqt_status_; \
  } while (0)

// `lhs` = value of `rexpr` (an absl::StatusOr<T>), or return its error.
#define DQT_ASSIGN_OR_RETURN(lhs, rexpr) \
  DQT_ASSIGN_OR_RETURN_IMPL_(DQT_CONCAT_(dqt_statusor_, __LINE__), lhs, rexpr)
#define DQT_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, rexpr) \
  auto tmp = (rexpr);                               \
  if (!tmp.ok()) return std::move(tmp).status();    \
  lhs = std::move(tmp).value()
