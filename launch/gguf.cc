// GGUF v3 writer and the ggml block encodings, from the GGUF specification and ggml's documented
// block layouts (block_q8_0: fp16 d + 32 int8; block_tq2_0: 64 bytes of 2-bit codes + fp16 d).
#include "launch/gguf.h"

#include <bit>
#include <cmath>
#include <cstring>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "launch/file_io.h"

namespace dqt {
namespace {

constexpr uint32_t kGgufVersion = 3;
constexpr uint64_t kAlignment = 32;  // general.alignment's default

constexpr int64_t kQ8Block = 32;
constexpr int64_t kQ8Bytes = 2 + kQ8Block;  // d, qs[32]
constexpr int64_t kQkK = 256;
constexpr int64_t kTq2Bytes = kQkK / 4 + 2;             // qs[64], d
constexpr int64_t kTq1Qs = (kQkK - 4 * kQkK / 64) / 5;  // 48 bytes of 5 trits each
constexpr int64_t kTq1Qh = kQkK / 64;                   // 4 bytes of 4 trits each
constexpr int64_t kTq1Bytes = kTq1Qs + kTq1Qh + 2;      // qs, qh, d
static_assert(kTq2Bytes == 66 && kQ8Bytes == 34 && kTq1Bytes == 54);

// GGUF metadata value types.
enum : uint32_t {
  kU32 = 4,
  kI32 = 5,
  kF32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kU64 = 10,
};

class ByteSink {
 public:
  template <typename T>
  void Put(T v) {
    static_assert(std::is_trivially_copyable_v<T>);
    const size_t at = bytes_.size();
    bytes_.resize(at + sizeof(T));
    std::memcpy(bytes_.data() + at, &v, sizeof(T));  // little-endian host (x86-64, aarch64)
  }
  void PutString(std::string_view s) {
    Put<uint64_t>(s.size());
    bytes_.append(s);
  }
  void PadTo(uint64_t alignment) {
    while (bytes_.size() % alignment != 0) bytes_.push_back('\0');
  }
  std::string& bytes() { return bytes_; }

 private:
  std::string bytes_;
};

struct ValueWriter {
  ByteSink& sink;
  void operator()(uint32_t v) { sink.Put(kU32), sink.Put(v); }
  void operator()(int32_t v) { sink.Put(kI32), sink.Put(v); }
  void operator()(float v) { sink.Put(kF32), sink.Put(v); }
  void operator()(bool v) { sink.Put(kBool), sink.Put<uint8_t>(v ? 1 : 0); }
  void operator()(const std::string& v) { sink.Put(kString), sink.PutString(v); }
  void operator()(uint64_t v) { sink.Put(kU64), sink.Put(v); }
  void operator()(const std::vector<std::string>& v) {
    sink.Put(kArray), sink.Put(kString), sink.Put<uint64_t>(v.size());
    for (const std::string& s : v) sink.PutString(s);
  }
  void operator()(const std::vector<int32_t>& v) {
    sink.Put(kArray), sink.Put(kI32), sink.Put<uint64_t>(v.size());
    for (int32_t x : v) sink.Put(x);
  }
  void operator()(const std::vector<float>& v) {
    sink.Put(kArray), sink.Put(kF32), sink.Put<uint64_t>(v.size());
    for (float x : v) sink.Put(x);
  }
};

}  // namespace

const char* GgmlTypeName(GgmlType type) {
  switch (type) {
    case GgmlType::kF32:
      return "F32";
    case GgmlType::kF16:
      return "F16";
    case GgmlType::kQ8_0:
      return "Q8_0";
    case GgmlType::kTQ1_0:
      return "TQ1_0";
    case GgmlType::kTQ2_0:
      return "TQ2_0";
  }
  return "?";
}

int64_t GgmlBlockSize(GgmlType type) {
  switch (type) {
    case GgmlType::kQ8_0:
      return kQ8Block;
    case GgmlType::kTQ1_0:
    case GgmlType::kTQ2_0:
      return kQkK;
    default:
      return 1;
  }
}

int64_t GgmlBlockBytes(GgmlType type) {
  switch (type) {
    case GgmlType::kF32:
      return 4;
    case GgmlType::kF16:
      return 2;
    case GgmlType::kQ8_0:
      return kQ8Bytes;
    case GgmlType::kTQ1_0:
      return kTq1Bytes;
    case GgmlType::kTQ2_0:
      return kTq2Bytes;
  }
  return 0;
}

uint16_t FloatToHalf(float value) {
  const uint32_t x = std::bit_cast<uint32_t>(value);
  const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000u);
  const uint32_t abs = x & 0x7fffffffu;
  if (abs >= 0x7f800000u) {  // inf or nan (nan keeps a quiet payload bit)
    return sign | 0x7c00u | (abs > 0x7f800000u ? 0x200u : 0u);
  }
  const int exp = static_cast<int>(abs >> 23) - 127;
  if (exp > 15) return sign | 0x7c00u;  // overflow even before rounding
  uint32_t mant = (abs & 0x7fffffu) | (exp > -127 ? 0x800000u : 0u);
  // Value = mant * 2^(exp - 23). Half's unit in the last place: 2^(max(exp, -14) - 10).
  const int shift = (exp >= -14 ? 13 : 13 + (-14 - exp));
  if (shift > 24) return sign;  // rounds to zero (even the halfway case: below min subnormal / 2)
  const uint32_t kept = mant >> shift;
  const uint32_t rest = mant & ((1u << shift) - 1);
  const uint32_t half = 1u << (shift - 1);
  uint32_t rounded = kept + ((rest > half || (rest == half && (kept & 1))) ? 1 : 0);
  // Normal: kept has the implicit bit at position 10; the exponent field adds to it, and a
  // carry out of the mantissa moves into the exponent, as it should.
  uint32_t bits = exp >= -14 ? (static_cast<uint32_t>(exp + 14) << 10) + rounded : rounded;
  if (bits >= 0x7c00u) bits = 0x7c00u;
  return static_cast<uint16_t>(sign | bits);
}

float HalfToFloat(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1f;
  const uint32_t mant = h & 0x3ffu;
  if (exp == 0x1f) return std::bit_cast<float>(sign | 0x7f800000u | (mant << 13));
  if (exp == 0) {
    const float v = std::ldexp(static_cast<float>(mant), -24);
    return sign ? -v : v;
  }
  return std::bit_cast<float>(sign | ((exp + 112) << 23) | (mant << 13));
}

void QuantizeQ8_0(std::span<const float> row, std::vector<uint8_t>* out) {
  for (size_t b = 0; b < row.size(); b += kQ8Block) {
    float amax = 0;
    for (int64_t i = 0; i < kQ8Block; ++i) amax = std::max(amax, std::fabs(row[b + i]));
    const float d = amax / 127.0f;
    const float id = d != 0 ? 1.0f / d : 0.0f;
    const uint16_t dh = FloatToHalf(d);
    out->push_back(static_cast<uint8_t>(dh & 0xff));
    out->push_back(static_cast<uint8_t>(dh >> 8));
    for (int64_t i = 0; i < kQ8Block; ++i) {
      out->push_back(static_cast<uint8_t>(static_cast<int8_t>(std::lround(row[b + i] * id))));
    }
  }
}

void PackQ8_0(std::span<const int8_t> codes, uint16_t d, std::vector<uint8_t>* out) {
  for (size_t b = 0; b < codes.size(); b += kQ8Block) {
    out->push_back(static_cast<uint8_t>(d & 0xff));
    out->push_back(static_cast<uint8_t>(d >> 8));
    for (int64_t i = 0; i < kQ8Block; ++i) out->push_back(static_cast<uint8_t>(codes[b + i]));
  }
}

// block_tq2_0: qs[64] then d. Each half-block of 128 elements is 32 bytes; element
// (l * 32 + m) of the half lives in byte m, bits 2l..2l+1, stored as code + 1 (0, 1, 2).
void PackTQ2_0(std::span<const int8_t> codes, uint16_t d, std::vector<uint8_t>* out) {
  for (size_t b = 0; b < codes.size(); b += kQkK) {
    for (int64_t half = 0; half < kQkK; half += 128) {
      for (int64_t m = 0; m < 32; ++m) {
        uint8_t byte = 0;
        for (int l = 0; l < 4; ++l) {
          byte |= static_cast<uint8_t>((codes[b + half + l * 32 + m] + 1) & 3) << (2 * l);
        }
        out->push_back(byte);
      }
    }
    out->push_back(static_cast<uint8_t>(d & 0xff));
    out->push_back(static_cast<uint8_t>(d >> 8));
  }
}

// block_tq1_0: each byte holds trits t0..t(k-1) (code + 1) as the fraction
// (t0 t1 ... base 3) / 3^5 scaled to 256 and rounded up, so that multiplying the byte by 3^n
// (mod 256) and taking the top of byte * 3 recovers trit n. qs[0..31] hold elements
// n * 32 + m (n < 5) in byte m, qs[32..47] elements 160 + n * 16 + m, qh[j] elements 240 + n * 4 +
// j (four trits, the fifth 0).
static uint8_t PackTrits(const int8_t* codes, int count, int64_t stride) {
  uint32_t v = 0;
  for (int n = 0; n < 5; ++n) v = v * 3 + (n < count ? codes[n * stride] + 1 : 0);
  return static_cast<uint8_t>((v * 256 + 242) / 243);
}

void PackTQ1_0(std::span<const int8_t> codes, uint16_t d, std::vector<uint8_t>* out) {
  for (size_t b = 0; b < codes.size(); b += kQkK) {
    const int8_t* x = codes.data() + b;
    for (int64_t m = 0; m < 32; ++m) out->push_back(PackTrits(x + m, 5, 32));
    for (int64_t m = 0; m < 16; ++m) out->push_back(PackTrits(x + 160 + m, 5, 16));
    for (int64_t j = 0; j < kTq1Qh; ++j) out->push_back(PackTrits(x + 240 + j, 4, 4));
    out->push_back(static_cast<uint8_t>(d & 0xff));
    out->push_back(static_cast<uint8_t>(d >> 8));
  }
}

std::vector<float> DequantizeBlocks(GgmlType type, std::span<const uint8_t> data, int64_t n) {
  std::vector<float> y(static_cast<size_t>(n));
  auto half_at = [&](size_t at) { return HalfToFloat(data[at] | (data[at + 1] << 8)); };
  switch (type) {
    case GgmlType::kF32:
      std::memcpy(y.data(), data.data(), n * sizeof(float));
      break;
    case GgmlType::kF16:
      for (int64_t i = 0; i < n; ++i) y[i] = half_at(2 * i);
      break;
    case GgmlType::kQ8_0:
      for (int64_t b = 0; b < n / kQ8Block; ++b) {
        const float d = half_at(b * kQ8Bytes);
        for (int64_t i = 0; i < kQ8Block; ++i) {
          y[b * kQ8Block + i] = d * static_cast<int8_t>(data[b * kQ8Bytes + 2 + i]);
        }
      }
      break;
    case GgmlType::kTQ1_0:
      for (int64_t b = 0; b < n / kQkK; ++b) {
        const uint8_t* block = data.data() + b * kTq1Bytes;
        const float d = half_at(b * kTq1Bytes + kTq1Qs + kTq1Qh);
        float* y_block = y.data() + b * kQkK;
        auto trit = [](uint8_t byte, int n) {
          static constexpr uint8_t kPow3[5] = {1, 3, 9, 27, 81};
          const uint8_t q = static_cast<uint8_t>(byte * kPow3[n]);
          return static_cast<int>((static_cast<uint16_t>(q) * 3) >> 8) - 1;
        };
        for (int nn = 0; nn < 5; ++nn) {
          for (int64_t m = 0; m < 32; ++m) y_block[nn * 32 + m] = trit(block[m], nn) * d;
          for (int64_t m = 0; m < 16; ++m) y_block[160 + nn * 16 + m] = trit(block[32 + m], nn) * d;
        }
        for (int nn = 0; nn < 4; ++nn) {
          for (int64_t j = 0; j < kTq1Qh; ++j)
            y_block[240 + nn * 4 + j] = trit(block[48 + j], nn) * d;
        }
      }
      break;
    case GgmlType::kTQ2_0:
      for (int64_t b = 0; b < n / kQkK; ++b) {
        const uint8_t* block = data.data() + b * kTq2Bytes;
        const float d = half_at(b * kTq2Bytes + kQkK / 4);
        for (int64_t half = 0; half < 2; ++half) {
          for (int l = 0; l < 4; ++l) {
            for (int64_t m = 0; m < 32; ++m) {
              const int q = (block[half * 32 + m] >> (2 * l)) & 3;
              y[b * kQkK + half * 128 + l * 32 + m] = static_cast<float>(q - 1) * d;
            }
          }
        }
      }
      break;
  }
  return y;
}

absl::Status GgufWriter::Write(const std::string& path) const {
  ByteSink head;
  head.Put<uint32_t>(0x46554747u);  // "GGUF" as stored
  head.Put(kGgufVersion);
  head.Put<uint64_t>(tensors_.size());
  head.Put<uint64_t>(kv_.size());
  for (const auto& [key, value] : kv_) {
    head.PutString(key);
    std::visit(ValueWriter{head}, value);
  }
  uint64_t offset = 0;
  for (const GgufTensor& t : tensors_) {
    int64_t numel = 1;
    for (int64_t n : t.ne) numel *= n;
    const int64_t block = GgmlBlockSize(t.type);
    if (t.ne.empty() || t.ne[0] % block != 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "tensor ", t.name, ": its rows of ", t.ne.empty() ? 0 : t.ne[0],
          " elements do not divide into ", GgmlTypeName(t.type), " blocks of ", block));
    }
    const uint64_t bytes = static_cast<uint64_t>(numel / block * GgmlBlockBytes(t.type));
    if (bytes != t.data.size()) {
      return absl::InternalError(absl::StrCat("tensor ", t.name, ": ", t.data.size(),
                                              " bytes of data, its shape needs ", bytes));
    }
    head.PutString(t.name);
    head.Put<uint32_t>(t.ne.size());
    for (int64_t n : t.ne) head.Put<uint64_t>(n);
    head.Put(static_cast<uint32_t>(t.type));
    head.Put<uint64_t>(offset);
    offset += (bytes + kAlignment - 1) / kAlignment * kAlignment;
  }
  head.PadTo(kAlignment);
  std::vector<std::string_view> parts = {head.bytes()};
  static const std::string kZeros(kAlignment, '\0');
  for (const GgufTensor& t : tensors_) {
    parts.emplace_back(reinterpret_cast<const char*>(t.data.data()), t.data.size());
    const size_t pad = (kAlignment - t.data.size() % kAlignment) % kAlignment;
    if (pad != 0) parts.emplace_back(kZeros.data(), pad);
  }
  return WriteFileAtomically(path, parts);
}

}  // namespace dqt
