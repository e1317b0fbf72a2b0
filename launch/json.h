// Minimal JSON for the tools: quoting strings for the files and lines they write, and a small
// strict parser (RFC 8259 values, objects keep their key order) for the headers they read back.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace dqt {

// `text` as a JSON string literal, quotes included (control characters as \uXXXX; other bytes,
// UTF-8 included, pass through unchanged).
std::string JsonQuote(std::string_view text);

// A double as a JSON number that reads back to the same value (17 significant digits at most;
// NaN and infinities, which JSON cannot spell, become null).
std::string JsonNumber(double value);

struct JsonValue {
  enum class Type { kNull, kBool, kNumber, kString, kArray, kObject };
  Type type = Type::kNull;
  bool boolean = false;
  double number = 0;
  std::string text;              // kString: the decoded string; kNumber: the number as written
  std::vector<JsonValue> items;  // kArray
  std::vector<std::pair<std::string, JsonValue>> members;  // kObject, in file order

  // Declared here, defaulted in json.cc: clang (C++20, libstdc++ 12) instantiates the vector of
  // pairs' destructor where an implicit one is defined, while JsonValue is still incomplete.
  JsonValue();
  JsonValue(const JsonValue&);
  JsonValue(JsonValue&&) noexcept;
  JsonValue& operator=(const JsonValue&);
  JsonValue& operator=(JsonValue&&) noexcept;
  ~JsonValue();

  // The member named `key` of an object, or null when absent (or not an object).
  const JsonValue* Find(std::string_view key) const;
  // The number as a non-negative integer when it is written as one (digits only) and fits.
  bool AsUint64(uint64_t* out) const;
};

// Parses one JSON value filling all of `text` (surrounding whitespace allowed). Errors are
// InvalidArgumentError with the byte offset. Nesting deeper than 64 levels is refused.
absl::StatusOr<JsonValue> ParseJson(std::string_view text);

}  // namespace dqt
