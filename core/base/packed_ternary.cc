// Ternary 2-bit packing: byte-parallel loops with a vector-friendly validity check.
#include "core/base/packed_ternary.h"

#include <algorithm>

#include "core/base/check.h"
#include "core/base/parallel.h"

namespace dqt {
namespace {

// Bytes per parallel work item: large enough that OpenMP overhead stays negligible.
constexpr int64_t kBytesPerChunk = 1 << 14;

uint8_t PackByte(const int8_t* c, int count) {
  uint8_t byte = 0;
  for (int j = 0; j < count; ++j) {
    byte |= static_cast<uint8_t>((static_cast<uint8_t>(c[j]) & 0x3u) << (kTernaryBitsPerCode * j));
  }
  return byte;
}

// Sign-extends the 2-bit field: 0b00 -> 0, 0b01 -> 1, 0b11 -> -1 (0b10 -> -2, rejected).
int8_t UnpackCode(uint8_t byte, int j) {
  const int field = (byte >> (kTernaryBitsPerCode * j)) & 0x3;
  return static_cast<int8_t>(field >= 2 ? field - 4 : field);
}

}  // namespace

void PackTernary(const int8_t* codes, int64_t n, uint8_t* out) {
  DQT_CHECK(n >= 0);
  const int64_t bytes = PackedTernaryBytes(n);
  const int64_t chunks = (bytes + kBytesPerChunk - 1) / kBytesPerChunk;
  ParallelFor(chunks, [&](int64_t chunk) {
    const int64_t first = chunk * kBytesPerChunk;
    const int64_t last = std::min(bytes, first + kBytesPerChunk);
    const int64_t first_code = first * kTernaryCodesPerByte;
    const int64_t last_code = std::min(n, last * kTernaryCodesPerByte);
    // (c + 1) as unsigned is <= 2 exactly for c in {-1, 0, 1}.
    bool valid = true;
    for (int64_t i = first_code; i < last_code; ++i) {
      valid &= static_cast<uint8_t>(codes[i] + 1) <= 2;
    }
    if (!valid) {
      for (int64_t i = first_code; i < last_code; ++i) {
        DQT_CHECK(codes[i] >= -1 && codes[i] <= 1)
            << "ternary code " << int{codes[i]} << " at index " << i << " is not in {-1, 0, 1}";
      }
    }
    for (int64_t b = first; b < last; ++b) {
      const int64_t i = b * kTernaryCodesPerByte;
      const int count = static_cast<int>(std::min<int64_t>(kTernaryCodesPerByte, n - i));
      out[b] = PackByte(codes + i, count);
    }
  });
}

int64_t FindInvalidTernary(const uint8_t* packed, int64_t begin, int64_t end) {
  for (int64_t i = begin; i < end; ++i) {
    if (UnpackCode(packed[i / kTernaryCodesPerByte], static_cast<int>(i % kTernaryCodesPerByte)) ==
        -2) {
      return i;
    }
  }
  return -1;
}

void UnpackTernary(const uint8_t* packed, int64_t n, int8_t* out) {
  DQT_CHECK(n >= 0);
  const int64_t bytes = PackedTernaryBytes(n);
  const int64_t chunks = (bytes + kBytesPerChunk - 1) / kBytesPerChunk;
  ParallelFor(chunks, [&](int64_t chunk) {
    const int64_t first = chunk * kBytesPerChunk;
    const int64_t last = std::min(bytes, first + kBytesPerChunk);
    for (int64_t b = first; b < last; ++b) {
      const int64_t i = b * kTernaryCodesPerByte;
      const int count = static_cast<int>(std::min<int64_t>(kTernaryCodesPerByte, n - i));
      for (int j = 0; j < count; ++j) {
        const int8_t code = UnpackCode(packed[b], j);
        DQT_CHECK(code != -2) << "invalid ternary bit pattern 0b10 at index " << i + j;
        out[i + j] = code;
      }
    }
  });
}

}  // namespace dqt
