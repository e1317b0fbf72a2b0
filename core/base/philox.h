// Philox4x32-10 counter-based RNG (Salmon et al., SC'11) and the draws dqt builds on it.
// Every random number in dqt is a pure function of (seed, parameter id, purpose, step, index),
// so results do not depend on threads, shards, ranks or device. Host/device twin-safe.
#pragma once

#include <cmath>
#include <cstdint>

#if defined(__CUDACC__)
#define DQT_HOST_DEVICE __host__ __device__
#else
#define DQT_HOST_DEVICE
#endif

namespace dqt {

struct Philox4x32 {
  uint32_t v[4];
};

// What a stream of draws is for; part of the counter so purposes never share numbers.
enum class RngPurpose : uint32_t { kInit = 0, kStochasticRounding = 1, kDropout = 2, kSampler = 3 };

DQT_HOST_DEVICE inline void MulHiLo32(uint32_t a, uint32_t b, uint32_t* hi, uint32_t* lo) {
  const uint64_t p = static_cast<uint64_t>(a) * static_cast<uint64_t>(b);
  *hi = static_cast<uint32_t>(p >> 32);
  *lo = static_cast<uint32_t>(p);
}

// The raw bijection: 10 rounds of Philox4x32 on `counter` under `key`.
DQT_HOST_DEVICE inline Philox4x32 Philox4x32_10(Philox4x32 ctr, uint32_t key0, uint32_t key1) {
  constexpr uint32_t kM0 = 0xD2511F53u, kM1 = 0xCD9E8D57u;
  constexpr uint32_t kW0 = 0x9E3779B9u, kW1 = 0xBB67AE85u;
  for (int round = 0; round < 10; ++round) {
    uint32_t hi0, lo0, hi1, lo1;
    MulHiLo32(kM0, ctr.v[0], &hi0, &lo0);
    MulHiLo32(kM1, ctr.v[2], &hi1, &lo1);
    ctr = Philox4x32{{hi1 ^ ctr.v[1] ^ key0, lo1, hi0 ^ ctr.v[3] ^ key1, lo0}};
    key0 += kW0;
    key1 += kW1;
  }
  return ctr;
}

// Key of a (seed, parameter id) stream.
struct RngKey {
  uint32_t k0, k1;
};
DQT_HOST_DEVICE inline RngKey MakeRngKey(uint64_t seed, uint32_t param_id) {
  return RngKey{static_cast<uint32_t>(seed),
                static_cast<uint32_t>(seed >> 32) ^ (param_id * 0x9E3779B9u + 0x7F4A7C15u)};
}

// Four 32-bit words for block `block` (a global element index or pair index) of a stream.
DQT_HOST_DEVICE inline Philox4x32 RngBlock(RngKey key, RngPurpose purpose, uint32_t step,
                                           uint64_t block) {
  return Philox4x32_10(Philox4x32{{static_cast<uint32_t>(block), static_cast<uint32_t>(block >> 32),
                                   static_cast<uint32_t>(purpose), step}},
                       key.k0, key.k1);
}

// Uniform in [0, 1) with 24 random bits; exact in float.
DQT_HOST_DEVICE inline float UniformFromBits(uint32_t bits) {
  return static_cast<float>(bits >> 8) * 0x1.0p-24f;
}

// Standard normal for global element `index` of a stream: one Box-Muller pair per two elements.
DQT_HOST_DEVICE inline float NormalAt(RngKey key, RngPurpose purpose, uint32_t step,
                                      uint64_t index) {
  const Philox4x32 r = RngBlock(key, purpose, step, index >> 1);
  const double u1 = (static_cast<double>(r.v[0] >> 8) + 1.0) * 0x1.0p-24;  // (0, 1]
  const double u2 = static_cast<double>(r.v[1] >> 8) * 0x1.0p-24;          // [0, 1)
  const double radius = std::sqrt(-2.0 * std::log(u1));
  const double angle = 6.283185307179586 * u2;
  return static_cast<float>((index & 1) ? radius * std::sin(angle) : radius * std::cos(angle));
}

}  // namespace dqt
