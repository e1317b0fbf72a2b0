// Tokenizer-safe cuts of a text (see text_pieces.h).
#include "launch/text_pieces.h"

namespace dqt {
namespace {

bool IsAsciiLetter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsPrintableNonSpace(char c) { return c > ' ' && c < 0x7f; }

}  // namespace

std::vector<std::string_view> SplitForTokenizing(std::string_view text, size_t piece_bytes) {
  std::vector<std::string_view> pieces;
  size_t begin = 0;
  while (begin < text.size()) {
    size_t cut = text.size();
    for (size_t i = begin + std::max<size_t>(piece_bytes, 1); i + 1 < text.size(); ++i) {
      if (text[i] == ' ' && IsPrintableNonSpace(text[i - 1]) && IsAsciiLetter(text[i + 1])) {
        cut = i;
        break;
      }
    }
    pieces.push_back(text.substr(begin, cut - begin));
    begin = cut;
  }
  return pieces;
}

}  // namespace dqt
