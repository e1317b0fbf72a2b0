// UTF-8 helpers shared by the tokenizers: validation, WHATWG-style repair of invalid input
// (each maximal invalid subpart becomes U+FFFD, as browsers and Node decode), encoding.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace dqt {

inline constexpr char kUtf8ReplacementChar[] = "\xEF\xBF\xBD";  // U+FFFD

// Length (1..4) of the well-formed UTF-8 sequence at s[i], or minus the length of the maximal
// invalid subpart there (the bytes a WHATWG decoder replaces by one U+FFFD). i < s.size().
int ScanUtf8(std::string_view s, size_t i);

// The code point of the well-formed sequence of length `len` (from ScanUtf8) at s[i].
char32_t DecodeUtf8(std::string_view s, size_t i, int len);

void AppendUtf8(char32_t code_point, std::string* out);

bool IsValidUtf8(std::string_view s);

// `s` with every maximal invalid subpart replaced by U+FFFD; valid input comes back unchanged.
std::string ReplaceInvalidUtf8(std::string_view s);

// For the tools that read text: "" for text, or why `s` looks like binary data instead, e.g.
// "37 NUL bytes and 120 bytes of invalid UTF-8 in 4096". Binary means NUL bytes and bytes of
// invalid UTF-8 together above 0.1% of `s` (and at least one): a stray bad byte in a corpus is
// not worth a warning, an image or an archive is.
std::string BinaryContentReason(std::string_view s);

}  // namespace dqt
