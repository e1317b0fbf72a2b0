// CPU twin of causal GQA attention, written from the math: one (batch, kv head) group per task
// so the dk/dv accumulation has a single writer and a fixed order.
#include "kernels/cpu/attention.h"

#include <cmath>
#include <cstring>
#include <vector>

#include "core/base/parallel.h"
#include "kernels/cpu/float_types.h"

namespace dqt::cpu {
namespace {

template <typename T>
T Dot(const T* a, const T* b, int n) {
  T acc = 0;
  for (int i = 0; i < n; ++i) acc += a[i] * b[i];
  return acc;
}

}  // namespace

template <typename T>
void AttentionForward(const AttentionShape& s, const T* q, const T* k, const T* v, T* out,
                      T* probs) {
  const int t_len = s.seq, hd = s.head_dim, h_n = s.heads, kv_n = s.kv_heads;
  const int group = h_n / kv_n;
  const T scale = T(1) / std::sqrt(T(hd));
  ParallelFor(s.batch * h_n, [&](int64_t bh) {
    const int64_t b = bh / h_n;
    const int h = static_cast<int>(bh % h_n);
    const int kvh = h / group;
    T* p_bh = probs + bh * t_len * t_len;
    for (int t = 0; t < t_len; ++t) {
      const T* qt = q + ((b * t_len + t) * h_n + h) * hd;
      T* p = p_bh + static_cast<int64_t>(t) * t_len;
      T max = -INFINITY;
      for (int j = 0; j <= t; ++j) {
        p[j] = Dot(qt, k + ((b * t_len + j) * kv_n + kvh) * hd, hd) * scale;
        max = p[j] > max ? p[j] : max;
      }
      T sum = 0;
      for (int j = 0; j <= t; ++j) {
        p[j] = std::exp(p[j] - max);
        sum += p[j];
      }
      const T inv = T(1) / sum;
      for (int j = 0; j <= t; ++j) p[j] *= inv;
      for (int j = t + 1; j < t_len; ++j) p[j] = 0;
      T* ot = out + ((b * t_len + t) * h_n + h) * hd;
      for (int i = 0; i < hd; ++i) ot[i] = 0;
      for (int j = 0; j <= t; ++j) {
        const T* vj = v + ((b * t_len + j) * kv_n + kvh) * hd;
        const T pj = p[j];
        for (int i = 0; i < hd; ++i) ot[i] += pj * vj[i];
      }
    }
  });
}

template <typename T>
void AttentionBackward(const AttentionShape& s, const T* q, const T* k, const T* v, const T* probs,
                       const T* dout, T* dq, T* dk, T* dv) {
  const int t_len = s.seq, hd = s.head_dim, h_n = s.heads, kv_n = s.kv_heads;
  const int group = h_n / kv_n;
  const T scale = T(1) / std::sqrt(T(hd));
  ParallelFor(s.batch * kv_n, [&](int64_t bk) {
    const int64_t b = bk / kv_n;
    const int kvh = static_cast<int>(bk % kv_n);
    for (int t = 0; t < t_len; ++t) {
      std::memset(dk + ((b * t_len + t) * kv_n + kvh) * hd, 0, sizeof(T) * hd);
      std::memset(dv + ((b * t_len + t) * kv_n + kvh) * hd, 0, sizeof(T) * hd);
    }
    std::vector<T> dp(t_len);
    for (int h = kvh * group; h < (kvh + 1) * group; ++h) {
      const T* p_bh = probs + (b * h_n + h) * t_len * t_len;
      for (int t = 0; t < t_len; ++t) {
        const T* p = p_bh + static_cast<int64_t>(t) * t_len;
        const T* dot = dout + ((b * t_len + t) * h_n + h) * hd;
        const T* qt = q + ((b * t_len + t) * h_n + h) * hd;
        // dP_j = dout_t . v_j; dv_j += p_j dout_t; dS_j = p_j (dP_j - sum_i p_i dP_i).
        T weighted = 0;
        for (int j = 0; j <= t; ++j) {
          const int64_t kv_off = ((b * t_len + j) * kv_n + kvh) * hd;
          dp[j] = Dot(dot, v + kv_off, hd);
          weighted += p[j] * dp[j];
          T* dvj = dv + kv_off;
          for (int i = 0; i < hd; ++i) dvj[i] += p[j] * dot[i];
        }
        T* dqt = dq + ((b * t_len + t) * h_n + h) * hd;
        for (int i = 0; i < hd; ++i) dqt[i] = 0;
        for (int j = 0; j <= t; ++j) {
          const T ds = p[j] * (dp[j] - weighted) * scale;
          const int64_t kv_off = ((b * t_len + j) * kv_n + kvh) * hd;
          const T* kj = k + kv_off;
          T* dkj = dk + kv_off;
          for (int i = 0; i < hd; ++i) {
            dqt[i] += ds * kj[i];
            dkj[i] += ds * qt[i];
          }
        }
      }
    }
  });
}

template void AttentionForward<float>(const AttentionShape&, const float*, const float*,
                                      const float*, float*, float*);
template void AttentionForward<double>(const AttentionShape&, const double*, const double*,
                                       const double*, double*, double*);
template void AttentionBackward<float>(const AttentionShape&, const float*, const float*,
                                       const float*, const float*, const float*, float*, float*,
                                       float*);
template void AttentionBackward<double>(const AttentionShape&, const double*, const double*,
                                        const double*, const double*, const double*, double*,
                                        double*, double*);

}  // namespace dqt::cpu

namespace dqt {

void AttentionForwardRef(const AttentionForwardArgs& a) {
  cpu::WithFloatType(a.q.dtype, "AttentionForward", [&](auto t) {
    using T = decltype(t);
    cpu::AttentionForward(AttentionShapeOf(a.q, a.k), a.q.as<T>(), a.k.as<T>(), a.v.as<T>(),
                          a.out.as<T>(), a.saved.as<T>());
  });
}

void AttentionBackwardRef(const AttentionBackwardArgs& a) {
  cpu::WithFloatType(a.q.dtype, "AttentionBackward", [&](auto t) {
    using T = decltype(t);
    cpu::AttentionBackward(AttentionShapeOf(a.q, a.k), a.q.as<T>(), a.k.as<T>(), a.v.as<T>(),
                           a.saved.as<T>(), a.dout.as<T>(), a.dq.as<T>(), a.dk.as<T>(),
                           a.dv.as<T>());
  });
}

}  // namespace dqt
