// AdamW moments (m, v) of one tensor slice as fp32, bf16 or block-quantized 8-bit, loaded and
// stored 256 elements at a time in fp32; the element conversions are bit-equal host/device twins.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "core/base/buffer.h"
#include "core/base/philox.h"  // DQT_HOST_DEVICE

namespace dqt {

enum class MomentFormat : uint8_t {
  kFp32,  // 8 B/element
  // 4 B/element; round-to-nearest-even on store. Caution: with beta2 = 0.999 a step moves v by
  // at most -0.1% downward, less than half a bf16 ulp (0.2-0.4%), so a bf16 v never decays (it
  // only rises on large gradients; measured: 1000 zero-gradient steps leave it at 1.0 where fp32
  // reaches 0.37). Fine for beta2 <= ~0.99; prefer kFp32 or kBlock8 for DQT's beta2 = 0.999.
  kBf16,
  kBlock8,  // 2 B/element + 8 B per 256-element block (see QuantizeFirstMoment)
};

inline constexpr const char* MomentFormatName(MomentFormat f) {
  return f == MomentFormat::kFp32 ? "fp32" : f == MomentFormat::kBf16 ? "bf16" : "block8";
}

// Load/Store granule. For kBlock8 it is also the quantization block, aligned to the tensor's
// global element index so that any block-aligned sharding stores the same bits.
inline constexpr int kMomentBlock = 256;

// Correctly rounded float ops, spelled out so nvcc cannot contract them into FMA on the device
// (host code is built with -ffp-contract=off). Kernels that must be bit-equal use only these.
#if defined(__CUDA_ARCH__)
#define DQT_RN_OP(device_expr, host_expr) return device_expr
#else
#define DQT_RN_OP(device_expr, host_expr) return host_expr
#endif
DQT_HOST_DEVICE inline float RnAdd(float a, float b) { DQT_RN_OP(__fadd_rn(a, b), a + b); }
DQT_HOST_DEVICE inline float RnSub(float a, float b) { DQT_RN_OP(__fsub_rn(a, b), a - b); }
DQT_HOST_DEVICE inline float RnMul(float a, float b) { DQT_RN_OP(__fmul_rn(a, b), a * b); }
DQT_HOST_DEVICE inline float RnDiv(float a, float b) { DQT_RN_OP(__fdiv_rn(a, b), a / b); }
DQT_HOST_DEVICE inline float RnSqrt(float a) { DQT_RN_OP(__fsqrt_rn(a), std::sqrt(a)); }
#undef DQT_RN_OP

DQT_HOST_DEVICE inline uint32_t FloatBits(float x) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(x);
#else
  uint32_t b;
  std::memcpy(&b, &x, sizeof b);
  return b;
#endif
}
DQT_HOST_DEVICE inline float FloatFromBits(uint32_t b) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(b);
#else
  float x;
  std::memcpy(&x, &b, sizeof x);
  return x;
#endif
}

// fp32 -> bf16 bits, round to nearest even. NaN stays NaN (quiet bit set, sign kept); +-Inf and
// values that round past the largest bf16 become +-Inf.
DQT_HOST_DEVICE inline uint16_t FloatToBf16(float x) {
  const uint32_t b = FloatBits(x);
  if ((b & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<uint16_t>((b >> 16) | 0x0040u);
  return static_cast<uint16_t>((b + 0x7FFFu + ((b >> 16) & 1u)) >> 16);
}
DQT_HOST_DEVICE inline float Bf16ToFloat(uint16_t h) {
  return FloatFromBits(static_cast<uint32_t>(h) << 16);
}

// kBlock8 (our scheme, chosen over linear absmax codes). Each block keeps two fp32 scales: the
// absmax of m and the max of v, both recomputed from the values being stored. Codes are companded
// so small entries stay resolvable next to a block's largest one:
//   m: int8  q = rint(127 sign(m) sqrt(|m| / absmax)),     m = r |r| absmax,    r = q / 127;
//   v: uint8 q = rint(255 (v / vmax)^(1/4)), at least 1 when v > 0,   v = (r^2)^2 vmax, r = q /
//   255.
// v >= 0 by construction and v > 0 never decodes to 0 (m / sqrt(v) cannot blow up). Simulated
// over 64 blocks x 2000 steps (b1 0.9, b2 0.999), the update direction m / sqrt(v) had 10% rms
// error with one decade of gradient scales inside a block and 23% with three decades, against 12%
// and 75% for linear int8 m / uint8 sqrt(v) codes. Rounding is to nearest: stochastic rounding of
// the state was also tried and was worse (its errors random-walk through the EMA).
DQT_HOST_DEVICE inline int8_t QuantizeFirstMoment(float m, float absmax) {
  if (!(absmax > 0.0f)) return 0;
  float x = RnMul(RnSqrt(RnDiv(std::fabs(m), absmax)), 127.0f);
  x = x > 0.0f ? (x < 127.0f ? x : 127.0f) : 0.0f;  // NaN -> 0; |m| <= absmax keeps x <= 127
  const int q = static_cast<int>(rintf(x));
  return static_cast<int8_t>(m < 0.0f ? -q : q);
}
DQT_HOST_DEVICE inline float DequantizeFirstMoment(int8_t q, float absmax) {
  const float r = RnDiv(static_cast<float>(q), 127.0f);
  return RnMul(RnMul(r, std::fabs(r)), absmax);
}
DQT_HOST_DEVICE inline uint8_t QuantizeSecondMoment(float v, float vmax) {
  if (!(vmax > 0.0f) || !(v > 0.0f)) return 0;
  float x = RnMul(RnSqrt(RnSqrt(RnDiv(v, vmax))), 255.0f);
  x = x > 1.0f ? (x < 255.0f ? x : 255.0f) : 1.0f;
  return static_cast<uint8_t>(rintf(x));
}
DQT_HOST_DEVICE inline float DequantizeSecondMoment(uint8_t q, float vmax) {
  const float r = RnDiv(static_cast<float>(q), 255.0f);
  const float r2 = RnMul(r, r);
  return RnMul(RnMul(r2, r2), vmax);
}

// Non-owning view of one slice's moments; pointers are host or device memory. Element i of the
// slice is global element global_offset + i of its tensor.
struct MomentsView {
  MomentFormat format = MomentFormat::kFp32;
  int64_t n = 0;
  uint64_t global_offset = 0;  // kBlock8: a multiple of kMomentBlock
  void* m = nullptr;           // (n) float | uint16 bf16 bits | int8 codes
  void* v = nullptr;           // (n) float | uint16 bf16 bits | uint8 codes
  float* m_absmax = nullptr;   // kBlock8 only: (blocks()) absmax of m per block
  float* v_max = nullptr;      // kBlock8 only: (blocks()) max of v per block

  DQT_HOST_DEVICE int64_t blocks() const { return (n + kMomentBlock - 1) / kMomentBlock; }
  // Elements in block b: kMomentBlock except for a shorter last block.
  DQT_HOST_DEVICE int BlockSize(int64_t b) const {
    const int64_t rest = n - b * kMomentBlock;
    return static_cast<int>(rest < kMomentBlock ? rest : kMomentBlock);
  }
};

// Bytes of one moment array (m or v) and number of per-block scales per moment, for n elements.
inline constexpr int64_t MomentArrayBytes(MomentFormat f, int64_t n) {
  return n * (f == MomentFormat::kFp32 ? 4 : f == MomentFormat::kBf16 ? 2 : 1);
}
inline constexpr int64_t MomentScaleCount(MomentFormat f, int64_t n) {
  return f == MomentFormat::kBlock8 ? (n + kMomentBlock - 1) / kMomentBlock : 0;
}

// Host block access through a view: m, v receive / provide BlockSize(block) floats.
void LoadMomentBlock(const MomentsView& view, int64_t block, float* m, float* v);
void StoreMomentBlock(const MomentsView& view, int64_t block, const float* m, const float* v);

// Owns the host moments of one tensor slice, zero-initialized (AdamW's m_0 = v_0 = 0).
class MomentStore {
 public:
  MomentStore() = default;
  // kBlock8 needs global_offset % kMomentBlock == 0 (DQT_CHECK). Load/Store read host memory
  // (device = kCpu); on CUDA the buffers are used only through view() by the update kernels.
  MomentStore(MomentFormat format, int64_t n, uint64_t global_offset, Device device = Device::kCpu);
  MomentStore(MomentStore&&) noexcept = default;
  MomentStore& operator=(MomentStore&&) noexcept = default;
  MomentStore(const MomentStore&) = delete;
  MomentStore& operator=(const MomentStore&) = delete;

  MomentFormat format() const { return format_; }
  int64_t size() const { return n_; }
  uint64_t global_offset() const { return global_offset_; }
  int64_t blocks() const { return (n_ + kMomentBlock - 1) / kMomentBlock; }

  // Bytes of m, v and the block scales (the ledger holds each of these buffers rounded up to 64
  // bytes, Buffer's allocation unit).
  int64_t bytes() const;
  double BytesPerElement() const { return n_ ? static_cast<double>(bytes()) / n_ : 0.0; }
  // What a store of `n` elements in `format` charges to the memory ledger, without making it.
  static double LedgerBytes(MomentFormat format, double n);

  MomentsView view();
  // Copies the moments of `other` (same format, size and offset; any device).
  void CopyFrom(const MomentStore& other);
  void Load(int64_t block, float* m, float* v) const;
  void Store(int64_t block, const float* m, const float* v);
  // Read-only use of the view (serialization); do not write through it.
  MomentsView ConstView() const;

 private:
  MomentFormat format_ = MomentFormat::kFp32;
  int64_t n_ = 0;
  uint64_t global_offset_ = 0;
  // Buffers: the memory ledger counts them as optimizer state.
  Buffer<float> m_f32_, v_f32_;       // kFp32
  Buffer<uint16_t> m_bf16_, v_bf16_;  // kBf16
  Buffer<int8_t> m_q8_;               // kBlock8
  Buffer<uint8_t> v_q8_;              // kBlock8
  Buffer<float> m_absmax_, v_max_;    // kBlock8
};

}  // namespace dqt
