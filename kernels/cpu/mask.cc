// CPU twins of the mask ops: the k-th largest key by std::nth_element over a copy of the keys
// (in the scratch), element-wise loops elsewhere.
#include "kernels/mask.h"

#include <algorithm>
#include <functional>

#include "core/base/parallel.h"

namespace dqt {

void TopKMaskRef(const TopKMaskArgs& a) {
  const float* s = a.scores.as<float>();
  const int64_t n = a.scores.numel();
  uint32_t* keys = reinterpret_cast<uint32_t*>(a.scratch.as<int32_t>());
  for (int64_t i = 0; i < n; ++i) keys[i] = OrderedKey(s[i], a.key);
  std::nth_element(keys, keys + (a.k - 1), keys + n, std::greater<uint32_t>());
  const uint32_t threshold = keys[a.k - 1];
  uint8_t* mask = a.mask.as<uint8_t>();
  for (int64_t i = 0; i < n; ++i) mask[i] = OrderedKey(s[i], a.key) >= threshold ? 1 : 0;
}

namespace {
template <typename T>
void Masked(const T* src, const uint8_t* mask, T* dst, int64_t n) {
  ParallelFor(
      n, [&](int64_t i) { dst[i] = mask[i] ? src[i] : T(0); }, 8192);
}
}  // namespace

void ApplyMaskRef(const ApplyMaskArgs& a) {
  const uint8_t* mask = a.mask.as<uint8_t>();
  if (a.src.dtype == DType::kI8) {
    Masked(a.src.as<int8_t>(), mask, a.dst.as<int8_t>(), a.src.numel());
  } else {
    Masked(a.src.as<float>(), mask, a.dst.as<float>(), a.src.numel());
  }
}

void MaskUnionRef(const MaskUnionArgs& a) {
  const uint8_t* mask = a.mask.as<uint8_t>();
  uint8_t* acc = a.acc.as<uint8_t>();
  for (int64_t i = 0; i < a.acc.numel(); ++i) acc[i] = (acc[i] || mask[i]) ? 1 : 0;
}

void MaskCountRef(const MaskCountArgs& a) {
  const uint8_t* mask = a.mask.as<uint8_t>();
  int64_t count = 0;
  for (int64_t i = 0; i < a.mask.numel(); ++i) count += mask[i] != 0;
  a.out.as<int64_t>()[0] = count;
}

void MaskAccumulateRef(const MaskAccumulateArgs& a) {
  const uint8_t* mask = a.mask.as<uint8_t>();
  float* acc = a.acc.as<float>();
  for (int64_t i = 0; i < a.acc.numel(); ++i) {
    if (mask[i]) acc[i] = acc[i] + a.weight;
  }
}

void ScoreAdamRef(const ScoreAdamArgs& a) {
  float* s = a.scores.as<float>();
  float* m = a.m.as<float>();
  float* v = a.v.as<float>();
  const float* g = a.grad.as<float>();
  const float* w = a.weights.as<float>();
  const float* shared = a.shared.empty() ? nullptr : a.shared.as<float>();
  ParallelFor(
      a.scores.numel(),
      [&](int64_t i) {
        ScoreAdamElement(a, g[i], w[i], shared ? shared[i] : 0.0f, &s[i], &m[i], &v[i]);
      },
      4096);
}

}  // namespace dqt
