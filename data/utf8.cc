// UTF-8 validation, WHATWG replacement of invalid subparts, and encoding (see utf8.h).
#include "data/utf8.h"

#include "absl/strings/str_format.h"

namespace dqt {

void AppendUtf8(char32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

int ScanUtf8(std::string_view s, size_t i) {
  const unsigned char lead = s[i];
  if (lead < 0x80) return 1;
  int continuation;
  unsigned char low = 0x80, high = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    continuation = 1;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    continuation = 2;
    if (lead == 0xE0) low = 0xA0;   // overlong
    if (lead == 0xED) high = 0x9F;  // surrogates
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    continuation = 3;
    if (lead == 0xF0) low = 0x90;   // overlong
    if (lead == 0xF4) high = 0x8F;  // above U+10FFFF
  } else {
    return -1;
  }
  for (int k = 1; k <= continuation; ++k) {
    if (i + k >= s.size()) return -k;
    const unsigned char c = s[i + k];
    if (c < low || c > high) return -k;
    low = 0x80;
    high = 0xBF;
  }
  return continuation + 1;
}

char32_t DecodeUtf8(std::string_view s, size_t i, int len) {
  const unsigned char lead = s[i];
  char32_t cp = len == 1 ? lead : lead & (0x7F >> len);
  for (int k = 1; k < len; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
  return cp;
}

bool IsValidUtf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const int len = ScanUtf8(s, i);
    if (len < 0) return false;
    i += len;
  }
  return true;
}

std::string BinaryContentReason(std::string_view s) {
  size_t nul = 0, invalid = 0;
  for (size_t i = 0; i < s.size();) {
    const int len = ScanUtf8(s, i);
    if (len < 0) {
      invalid += -len;
      i += -len;
    } else {
      nul += s[i] == '\0';
      i += len;
    }
  }
  const size_t bad = nul + invalid;
  if (bad == 0 || bad * 1000 <= s.size()) return "";
  return absl::StrFormat("%d NUL bytes and %d bytes of invalid UTF-8 in %d", nul, invalid,
                         s.size());
}

std::string ReplaceInvalidUtf8(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 16);
  for (size_t i = 0; i < s.size();) {
    const int len = ScanUtf8(s, i);
    if (len > 0) {
      out.append(s.substr(i, len));
      i += len;
    } else {
      out.append(kUtf8ReplacementChar);
      i += -len;
    }
  }
  return out;
}

}  // namespace dqt
