// CPU twin of RoPE: a rotation of each (i, i + half) pair by pos * theta^(-2i/head_dim).
#include "kernels/cpu/rope.h"

#include <cmath>

#include "core/base/parallel.h"
#include "kernels/cpu/float_types.h"
#include "kernels/rope.h"

namespace dqt::cpu {
namespace {

// sign = +1 rotates forward, -1 applies the inverse rotation.
template <typename T>
void Rotate(T* x, int64_t batch, int seq, int heads, int head_dim, int context, const T* cos_sin,
            T sign) {
  const int half = head_dim / 2;
  const T* cos_t = cos_sin;
  const T* sin_t = cos_sin + static_cast<int64_t>(context) * half;
  ParallelFor(
      batch * seq,
      [&](int64_t bt) {
        const int pos = static_cast<int>(bt % seq);
        const T* c = cos_t + static_cast<int64_t>(pos) * half;
        const T* s = sin_t + static_cast<int64_t>(pos) * half;
        for (int h = 0; h < heads; ++h) {
          T* v = x + (bt * heads + h) * head_dim;
          for (int i = 0; i < half; ++i) {
            const T a = v[i], b = v[i + half];
            v[i] = a * c[i] - sign * b * s[i];
            v[i + half] = b * c[i] + sign * a * s[i];
          }
        }
      },
      16);
}

}  // namespace

template <typename T>
void RopeTable(int context, int head_dim, double theta, T* cos_sin) {
  const int half = head_dim / 2;
  for (int p = 0; p < context; ++p) {
    for (int i = 0; i < half; ++i) {
      const double freq = std::pow(theta, -2.0 * i / head_dim);
      const double angle = p * freq;
      cos_sin[static_cast<int64_t>(p) * half + i] = static_cast<T>(std::cos(angle));
      cos_sin[static_cast<int64_t>(context + p) * half + i] = static_cast<T>(std::sin(angle));
    }
  }
}

template <typename T>
void RopeForward(T* x, int64_t batch, int seq, int heads, int head_dim, int context,
                 const T* cos_sin) {
  Rotate(x, batch, seq, heads, head_dim, context, cos_sin, T(1));
}

template <typename T>
void RopeBackward(T* dx, int64_t batch, int seq, int heads, int head_dim, int context,
                  const T* cos_sin) {
  Rotate(dx, batch, seq, heads, head_dim, context, cos_sin, T(-1));
}

#define DQT_INSTANTIATE_ROPE(T)                                            \
  template void RopeTable<T>(int, int, double, T*);                        \
  template void RopeForward<T>(T*, int64_t, int, int, int, int, const T*); \
  template void RopeBackward<T>(T*, int64_t, int, int, int, int, const T*);
DQT_INSTANTIATE_ROPE(float)
DQT_INSTANTIATE_ROPE(double)

}  // namespace dqt::cpu

namespace dqt {

template <typename T>
void RopeTable(int context, int head_dim, double theta, T* cos_sin) {
  cpu::RopeTable(context, head_dim, theta, cos_sin);
}
template void RopeTable<float>(int, int, double, float*);
template void RopeTable<double>(int, int, double, double*);

void RopeRef(const RopeArgs& a) {
  cpu::WithFloatType(a.x.dtype, "Rope", [&](auto t) {
    using T = decltype(t);
    const int seq = static_cast<int>(a.x.dim(1)), heads = static_cast<int>(a.x.dim(2));
    const int hd = static_cast<int>(a.x.dim(3)), context = static_cast<int>(a.cos_sin.dim(1));
    if (a.direction == RopeDirection::kForward) {
      cpu::RopeForward(a.x.as<T>(), a.x.dim(0), seq, heads, hd, context, a.cos_sin.as<T>());
    } else {
      cpu::RopeBackward(a.x.as<T>(), a.x.dim(0), seq, heads, hd, context, a.cos_sin.as<T>());
    }
  });
}

}  // namespace dqt
