// Cutting a large text into pieces that GPT-2 BPE encodes to the same ids, in order, as the
// whole: so dqt_prepare can tokenize a corpus piece by piece and show its progress.
#pragma once

#include <string_view>
#include <vector>

namespace dqt {

// Pieces of about `piece_bytes` (at least; the last may be shorter) that concatenate to `text`.
// Each cut is placed before a space that follows a printable ASCII character other than a space
// and precedes an ASCII letter. GPT-2's pre-tokenizer pattern never makes a piece that holds a
// non-space character and a space after it, so the piece before such a cut ends there, and the
// next begins there with " letters" in the whole text as in the cut one: the ids are the same.
std::vector<std::string_view> SplitForTokenizing(std::string_view text, size_t piece_bytes);

}  // namespace dqt
