// Ternary codes packed 2 bits each, 4 per byte: the storage and all-gather format of 1.58-bit
// weights. Encoding (2-bit two's complement): 0b00 = 0, 0b01 = +1, 0b11 = -1; 0b10 is invalid.
#pragma once

#include <cstdint>

namespace dqt {

inline constexpr int kTernaryBitsPerCode = 2;
inline constexpr int kTernaryCodesPerByte = 4;
static_assert(kTernaryBitsPerCode * kTernaryCodesPerByte == 8, "codes must fill a byte exactly");
static_assert(sizeof(uint8_t) == 1 && sizeof(int8_t) == 1, "packing assumes 8-bit bytes");

// Code i lives in byte i / 4 at bits [2 (i % 4), 2 (i % 4) + 2): the first code of a byte is in
// its low bits. Unused bits of the last byte are 0 (they decode as code 0).
inline constexpr int64_t PackedTernaryBytes(int64_t n) {
  return (n + kTernaryCodesPerByte - 1) / kTernaryCodesPerByte;
}

// codes (n) in {-1, 0, +1} -> out (PackedTernaryBytes(n)). A code outside {-1, 0, 1} is a
// DQT_CHECK failure. Multithreaded over the host team.
void PackTernary(const int8_t* codes, int64_t n, uint8_t* out);

// packed (PackedTernaryBytes(n)) -> out (n) in {-1, 0, +1}. The invalid pattern 0b10 in one of the
// first n slots is a DQT_CHECK failure (corrupted buffer).
void UnpackTernary(const uint8_t* packed, int64_t n, int8_t* out);

// The first slot in [begin, end) of `packed` holding the invalid pattern 0b10, or -1: for
// readers of packed codes from files, which report it instead of failing UnpackTernary's check.
int64_t FindInvalidTernary(const uint8_t* packed, int64_t begin, int64_t end);

}  // namespace dqt
