// CUDA twin of causal GQA attention, fused in the FlashAttention-2 manner: tiles of q/k/v staged in
// shared memory as f32, online softmax, and only each row's log-sum-exp (B, H, T) kept for the
// backward. The backward is two kernels without atomics or scratch, so its results are
// deterministic: dq per query tile, and dk/dv per key tile summing the group's query heads in
// order.
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <climits>
#include <cmath>
#include <type_traits>

#include "kernels/attention.h"

namespace dqt {
namespace {

constexpr int kWarps = 8;
constexpr int kThreads = 32 * kWarps;
constexpr float kLog2e = 1.4426950408889634f;
constexpr float kLn2 = 0.6931471805599453f;
// Dynamic shared memory a block may opt into on sm_80 (sm_90 allows 227 KiB).
constexpr int kMaxSharedBytes = 163 * 1024;

// Raw pointers of one call; T-typed (float or __nv_bfloat16) in the kernels. `lse` is the natural
// log-sum-exp of each row's scaled scores, (B, H, T).
struct Params {
  const void* q;     // (B, T, H, hd)
  const void* k;     // (B, T, Hkv, hd)
  const void* v;     // (B, T, Hkv, hd)
  const void* dout;  // (B, T, H, hd), backward only
  void* out;         // (B, T, H, hd): written by the forward, read by the backward
  float* lse;        // (B, H, T)
  void* dq;          // (B, T, H, hd)
  void* dk;          // (B, T, Hkv, hd)
  void* dv;          // (B, T, Hkv, hd)
  int seq, heads, kv_heads;
  float scale;       // 1 / sqrt(hd)
  float scale_log2;  // scale * log2(e): scores live in the log2 domain, for exp2f
};

__device__ __forceinline__ float LoadF(const float* p, int64_t i) { return p[i]; }
__device__ __forceinline__ float LoadF(const __nv_bfloat16* p, int64_t i) {
  return __bfloat162float(p[i]);
}
__device__ __forceinline__ void StoreF(float* p, int64_t i, float x) { p[i] = x; }
__device__ __forceinline__ void StoreF(__nv_bfloat16* p, int64_t i, float x) {
  p[i] = __float2bfloat16(x);
}

__device__ __forceinline__ float4 Ld4(const float* p) {
  return *reinterpret_cast<const float4*>(p);
}
__device__ __forceinline__ float Dot4(float4 a, float4 b, float acc) {
  return fmaf(a.w, b.w, fmaf(a.z, b.z, fmaf(a.y, b.y, fmaf(a.x, b.x, acc))));
}
__device__ __forceinline__ float Lane4(float4 a, int i) {
  return i == 0 ? a.x : i == 1 ? a.y : i == 2 ? a.z : a.w;
}
__device__ __forceinline__ float WarpMax(float x) {
  for (int o = 16; o > 0; o /= 2) x = fmaxf(x, __shfl_xor_sync(0xFFFFFFFFu, x, o));
  return x;
}
__device__ __forceinline__ float WarpSum(float x) {
  for (int o = 16; o > 0; o /= 2) x += __shfl_xor_sync(0xFFFFFFFFu, x, o);
  return x;
}

// Rows [row0, row0 + kRows) of one head's (T, hd) slice, `stride` elements apart in global memory,
// into shared memory as f32 with row pitch kPitch; rows at or past t_len read as zero.
template <int kRows, int kHd, int kPitch, typename T>
__device__ void LoadRows(float* dst, const T* src, int64_t stride, int row0, int t_len) {
  for (int idx = threadIdx.x; idx < kRows * kHd; idx += kThreads) {
    const int r = idx / kHd, d = idx % kHd;
    const int t = row0 + r;
    dst[r * kPitch + d] = t < t_len ? LoadF(src, t * stride + d) : 0.0f;
  }
}

// How a warp's (kRows, kHd) accumulator is spread over its lanes: lanes split the head dim (up
// to 32 wide) and, when hd < 32, the rows too. Lanes of a row read consecutive columns.
template <int kHd, int kRows>
struct LaneTile {
  static constexpr int kColLanes = kHd < 32 ? kHd : 32;
  static constexpr int kRowLanes = 32 / kColLanes;
  static constexpr int kCols = kHd / kColLanes;  // columns per lane
  static constexpr int kRowsPerLane = kRows / kRowLanes;
  static_assert(kRows % kRowLanes == 0, "rows per warp must cover the lane rows");
  __device__ static int Row(int lane, int rr) { return lane / kColLanes + kRowLanes * rr; }
  __device__ static int Col(int lane, int cc) { return lane % kColLanes + kColLanes * cc; }
};

// Query-tile kernels (forward, dq): a block owns kBr query rows of one (batch, head), kRows per
// warp, and streams key/value tiles of kBc rows; in a score tile a lane owns keys lane + 32c.
// Rows read by lane-varying index get a pitch of hd + 4 floats so float4 reads avoid bank
// conflicts; rows read by the whole warp at once (broadcast) are unpadded.
template <int kHd>
struct QueryTiles {
  static constexpr int kBr = 64;
  static constexpr int kBc = kHd >= 128 ? 32 : 64;
  static constexpr int kRows = kBr / kWarps;
  static constexpr int kKeys = kBc / 32;
  static constexpr int kKPitch = kHd + 4;
  static constexpr int kPPitch = kBc + 4;
  // q (kBr, hd), k (kBc, kKPitch), v (kBc, hd), p per warp (kRows, kPPitch), row factors (kBr).
  static constexpr int kForwardFloats =
      kBr * kHd + kBc * kKPitch + kBc * kHd + kWarps * kRows * kPPitch + kBr;
  // q, dout (kBr, hd), k, v (kBc, kKPitch), dS per warp (kRows, kPPitch).
  static constexpr int kDqFloats = 2 * kBr * kHd + 2 * kBc * kKPitch + kWarps * kRows * kPPitch;
  static_assert(kHd % 8 == 0 && kKeys >= 1, "float4 rows and whole warps of keys");
  static_assert(kDqFloats * 4 <= kMaxSharedBytes && kForwardFloats * 4 <= kMaxSharedBytes);
};

// Key-tile kernel (dk, dv): a block owns kBc keys of one (batch, kv head), kKeys per warp, and
// streams query tiles of kBr rows for each query head of the group; a lane owns queries lane + 32c.
template <int kHd>
struct KeyTiles {
  static constexpr int kBc = 64;
  static constexpr int kBr = kHd >= 128 ? 32 : 64;
  static constexpr int kKeys = kBc / kWarps;
  static constexpr int kQueries = kBr / 32;
  static constexpr int kQPitch = kHd + 4;
  static constexpr int kPPitch = kBr + 4;
  // k, v (kBc, hd), q, dout (kBr, kQPitch), P and dS per warp (kKeys, kPPitch), lse and D (kBr).
  static constexpr int kFloats =
      2 * kBc * kHd + 2 * kBr * kQPitch + 2 * kWarps * kKeys * kPPitch + 2 * kBr;
  static_assert(kHd % 8 == 0 && kQueries >= 1, "float4 rows and whole warps of queries");
  static_assert(kFloats * 4 <= kMaxSharedBytes);
};

template <typename T, int kHd>
__global__ void __launch_bounds__(kThreads) AttentionForwardKernel(Params p) {
  using Tiles = QueryTiles<kHd>;
  constexpr int kBr = Tiles::kBr, kBc = Tiles::kBc, kRows = Tiles::kRows, kKeys = Tiles::kKeys;
  constexpr int kKPitch = Tiles::kKPitch, kPPitch = Tiles::kPPitch;
  using Lane = LaneTile<kHd, kRows>;
  extern __shared__ float4 smem4[];
  float* sq = reinterpret_cast<float*>(smem4);
  float* sk = sq + kBr * kHd;
  float* sv = sk + kBc * kKPitch;
  float* sp = sv + kBc * kHd;
  float* srow = sp + kWarps * kRows * kPPitch;

  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int t_len = p.seq, heads = p.heads, kv_heads = p.kv_heads;
  const int64_t bh = blockIdx.x, b = bh / heads;
  const int h = static_cast<int>(bh % heads), kvh = h / (heads / kv_heads);
  const int q0 = (gridDim.y - 1 - blockIdx.y) * kBr;  // the longest rows are scheduled first
  const int64_t q_stride = int64_t{heads} * kHd, kv_stride = int64_t{kv_heads} * kHd;
  const T* q = static_cast<const T*>(p.q) + (b * t_len * heads + h) * kHd;
  const T* k = static_cast<const T*>(p.k) + (b * t_len * kv_heads + kvh) * kHd;
  const T* v = static_cast<const T*>(p.v) + (b * t_len * kv_heads + kvh) * kHd;
  T* out = static_cast<T*>(p.out) + (b * t_len * heads + h) * kHd;

  LoadRows<kBr, kHd, kHd>(sq, q, q_stride, q0, t_len);
  const float* wq = sq + warp * kRows * kHd;
  float* wp = sp + warp * kRows * kPPitch;
  float* wrow = srow + warp * kRows;
  const int row0 = q0 + warp * kRows;

  // Per row: running max m (log2 domain, the same in every lane) and this lane's part of the sum.
  float m[kRows], l[kRows];
#pragma unroll
  for (int r = 0; r < kRows; ++r) m[r] = -INFINITY, l[r] = 0.0f;
  float o[Lane::kRowsPerLane][Lane::kCols] = {};

  const int key_end = min(q0 + kBr, t_len);
  for (int k0 = 0; k0 < key_end; k0 += kBc) {
    __syncthreads();  // the previous tile's k/v are no longer read
    LoadRows<kBc, kHd, kKPitch>(sk, k, kv_stride, k0, t_len);
    LoadRows<kBc, kHd, kHd>(sv, v, kv_stride, k0, t_len);
    __syncthreads();

    float s[kRows][kKeys] = {};
#pragma unroll 4
    for (int d = 0; d < kHd; d += 4) {
      float4 kk[kKeys];
#pragma unroll
      for (int c = 0; c < kKeys; ++c) kk[c] = Ld4(sk + (lane + 32 * c) * kKPitch + d);
#pragma unroll
      for (int r = 0; r < kRows; ++r) {
        const float4 qq = Ld4(wq + r * kHd + d);
#pragma unroll
        for (int c = 0; c < kKeys; ++c) s[r][c] = Dot4(qq, kk[c], s[r][c]);
      }
    }
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
      const int i = row0 + r;
      float mx = -INFINITY;
#pragma unroll
      for (int c = 0; c < kKeys; ++c) {
        const int j = k0 + lane + 32 * c;
        s[r][c] = j <= i && j < t_len ? s[r][c] * p.scale_log2 : -INFINITY;
        mx = fmaxf(mx, s[r][c]);
      }
      const float m_new = fmaxf(m[r], WarpMax(mx));
      const float m_ref = m_new == -INFINITY ? 0.0f : m_new;  // a row with no key yet stays empty
      const float alpha = exp2f(m[r] - m_ref);
      float sum = 0.0f;
#pragma unroll
      for (int c = 0; c < kKeys; ++c) {
        const float e = exp2f(s[r][c] - m_ref);
        wp[r * kPPitch + lane + 32 * c] = e;
        sum += e;
      }
      l[r] = l[r] * alpha + sum;
      m[r] = m_new;
      if (lane == 0) wrow[r] = alpha;
    }
    __syncwarp();
#pragma unroll
    for (int rr = 0; rr < Lane::kRowsPerLane; ++rr) {
      const float alpha = wrow[Lane::Row(lane, rr)];
#pragma unroll
      for (int cc = 0; cc < Lane::kCols; ++cc) o[rr][cc] *= alpha;
    }
#pragma unroll 2
    for (int j = 0; j < kBc; j += 4) {
      float4 pp[Lane::kRowsPerLane];
#pragma unroll
      for (int rr = 0; rr < Lane::kRowsPerLane; ++rr) {
        pp[rr] = Ld4(wp + Lane::Row(lane, rr) * kPPitch + j);
      }
#pragma unroll
      for (int jj = 0; jj < 4; ++jj) {
#pragma unroll
        for (int cc = 0; cc < Lane::kCols; ++cc) {
          const float vv = sv[(j + jj) * kHd + Lane::Col(lane, cc)];
#pragma unroll
          for (int rr = 0; rr < Lane::kRowsPerLane; ++rr) {
            o[rr][cc] = fmaf(Lane4(pp[rr], jj), vv, o[rr][cc]);
          }
        }
      }
    }
    __syncwarp();  // wp and wrow are rewritten by the next tile
  }

  float* lse = p.lse + bh * t_len;
#pragma unroll
  for (int r = 0; r < kRows; ++r) {
    const float total = WarpSum(l[r]);
    if (lane == 0) {
      wrow[r] = 1.0f / total;
      if (row0 + r < t_len) lse[row0 + r] = (m[r] + log2f(total)) * kLn2;
    }
  }
  __syncwarp();
#pragma unroll
  for (int rr = 0; rr < Lane::kRowsPerLane; ++rr) {
    const int i = row0 + Lane::Row(lane, rr);
    if (i >= t_len) continue;
    const float inv = wrow[Lane::Row(lane, rr)];
#pragma unroll
    for (int cc = 0; cc < Lane::kCols; ++cc) {
      StoreF(out, i * q_stride + Lane::Col(lane, cc), o[rr][cc] * inv);
    }
  }
}

// dq = scale * sum_j dS_ij k_j with dS = P * (dP - D), P recomputed from q, k and the lse.
template <typename T, int kHd>
__global__ void __launch_bounds__(kThreads) AttentionBackwardDqKernel(Params p) {
  using Tiles = QueryTiles<kHd>;
  constexpr int kBr = Tiles::kBr, kBc = Tiles::kBc, kRows = Tiles::kRows, kKeys = Tiles::kKeys;
  constexpr int kKPitch = Tiles::kKPitch, kPPitch = Tiles::kPPitch;
  using Lane = LaneTile<kHd, kRows>;
  extern __shared__ float4 smem4[];
  float* sq = reinterpret_cast<float*>(smem4);
  float* sdo = sq + kBr * kHd;
  float* sk = sdo + kBr * kHd;
  float* sv = sk + kBc * kKPitch;
  float* sds = sv + kBc * kKPitch;

  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int t_len = p.seq, heads = p.heads, kv_heads = p.kv_heads;
  const int64_t bh = blockIdx.x, b = bh / heads;
  const int h = static_cast<int>(bh % heads), kvh = h / (heads / kv_heads);
  const int q0 = (gridDim.y - 1 - blockIdx.y) * kBr;
  const int64_t q_stride = int64_t{heads} * kHd, kv_stride = int64_t{kv_heads} * kHd;
  const int64_t q_off = (b * t_len * heads + h) * kHd;
  const T* q = static_cast<const T*>(p.q) + q_off;
  const T* dout = static_cast<const T*>(p.dout) + q_off;
  const T* out = static_cast<const T*>(p.out) + q_off;
  const T* k = static_cast<const T*>(p.k) + (b * t_len * kv_heads + kvh) * kHd;
  const T* v = static_cast<const T*>(p.v) + (b * t_len * kv_heads + kvh) * kHd;
  T* dq = static_cast<T*>(p.dq) + q_off;
  const float* lse = p.lse + bh * t_len;

  LoadRows<kBr, kHd, kHd>(sq, q, q_stride, q0, t_len);
  LoadRows<kBr, kHd, kHd>(sdo, dout, q_stride, q0, t_len);
  __syncthreads();
  const float* wq = sq + warp * kRows * kHd;
  const float* wdo = sdo + warp * kRows * kHd;
  float* wds = sds + warp * kRows * kPPitch;
  const int row0 = q0 + warp * kRows;

  // This warp's rows: lse in the log2 domain and D = rowsum(dout * out), in every lane.
  float lse2[kRows], dsum[kRows];
#pragma unroll
  for (int r = 0; r < kRows; ++r) {
    const int i = row0 + r;
    float part = 0.0f;
    if (i < t_len) {
      for (int d = lane; d < kHd; d += 32) part += wdo[r * kHd + d] * LoadF(out, i * q_stride + d);
    }
    dsum[r] = WarpSum(part);
    lse2[r] = i < t_len ? lse[i] * kLog2e : 0.0f;
  }

  float acc[Lane::kRowsPerLane][Lane::kCols] = {};
  const int key_end = min(q0 + kBr, t_len);
  for (int k0 = 0; k0 < key_end; k0 += kBc) {
    __syncthreads();
    LoadRows<kBc, kHd, kKPitch>(sk, k, kv_stride, k0, t_len);
    LoadRows<kBc, kHd, kKPitch>(sv, v, kv_stride, k0, t_len);
    __syncthreads();

    float s[kRows][kKeys] = {}, dp[kRows][kKeys] = {};
#pragma unroll 2
    for (int d = 0; d < kHd; d += 4) {
      float4 kk[kKeys], vv[kKeys];
#pragma unroll
      for (int c = 0; c < kKeys; ++c) {
        kk[c] = Ld4(sk + (lane + 32 * c) * kKPitch + d);
        vv[c] = Ld4(sv + (lane + 32 * c) * kKPitch + d);
      }
#pragma unroll
      for (int r = 0; r < kRows; ++r) {
        const float4 qq = Ld4(wq + r * kHd + d), gg = Ld4(wdo + r * kHd + d);
#pragma unroll
        for (int c = 0; c < kKeys; ++c) {
          s[r][c] = Dot4(qq, kk[c], s[r][c]);
          dp[r][c] = Dot4(gg, vv[c], dp[r][c]);
        }
      }
    }
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
#pragma unroll
      for (int c = 0; c < kKeys; ++c) {
        const int j = k0 + lane + 32 * c;
        const float pr = j <= row0 + r && j < t_len ? exp2f(s[r][c] * p.scale_log2 - lse2[r]) : 0;
        wds[r * kPPitch + lane + 32 * c] = pr * (dp[r][c] - dsum[r]);
      }
    }
    __syncwarp();
#pragma unroll 2
    for (int j = 0; j < kBc; j += 4) {
      float4 ds[Lane::kRowsPerLane];
#pragma unroll
      for (int rr = 0; rr < Lane::kRowsPerLane; ++rr) {
        ds[rr] = Ld4(wds + Lane::Row(lane, rr) * kPPitch + j);
      }
#pragma unroll
      for (int jj = 0; jj < 4; ++jj) {
#pragma unroll
        for (int cc = 0; cc < Lane::kCols; ++cc) {
          const float kv = sk[(j + jj) * kKPitch + Lane::Col(lane, cc)];
#pragma unroll
          for (int rr = 0; rr < Lane::kRowsPerLane; ++rr) {
            acc[rr][cc] = fmaf(Lane4(ds[rr], jj), kv, acc[rr][cc]);
          }
        }
      }
    }
    __syncwarp();
  }

#pragma unroll
  for (int rr = 0; rr < Lane::kRowsPerLane; ++rr) {
    const int i = row0 + Lane::Row(lane, rr);
    if (i >= t_len) continue;
#pragma unroll
    for (int cc = 0; cc < Lane::kCols; ++cc) {
      StoreF(dq, i * q_stride + Lane::Col(lane, cc), acc[rr][cc] * p.scale);
    }
  }
}

// dv = sum_i P_ij dout_i and dk = scale * sum_i dS_ij q_i over the queries i >= j of every query
// head of the kv head's group, in a fixed order (one writer per dk/dv element, no atomics).
template <typename T, int kHd>
__global__ void __launch_bounds__(kThreads) AttentionBackwardDkDvKernel(Params p) {
  using Tiles = KeyTiles<kHd>;
  constexpr int kBr = Tiles::kBr, kBc = Tiles::kBc, kKeys = Tiles::kKeys;
  constexpr int kQueries = Tiles::kQueries, kQPitch = Tiles::kQPitch, kPPitch = Tiles::kPPitch;
  using Lane = LaneTile<kHd, kKeys>;
  extern __shared__ float4 smem4[];
  float* sk = reinterpret_cast<float*>(smem4);
  float* sv = sk + kBc * kHd;
  float* sq = sv + kBc * kHd;
  float* sdo = sq + kBr * kQPitch;
  float* sp = sdo + kBr * kQPitch;
  float* sds = sp + kWarps * kKeys * kPPitch;
  float* slse = sds + kWarps * kKeys * kPPitch;
  float* sd = slse + kBr;

  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int t_len = p.seq, heads = p.heads, kv_heads = p.kv_heads;
  const int group = heads / kv_heads;
  const int64_t bk = blockIdx.x, b = bk / kv_heads;
  const int kvh = static_cast<int>(bk % kv_heads);
  const int k0 = blockIdx.y * kBc;  // the first key tiles see the most queries: scheduled first
  const int64_t q_stride = int64_t{heads} * kHd, kv_stride = int64_t{kv_heads} * kHd;
  const int64_t kv_off = (b * t_len * kv_heads + kvh) * kHd;

  LoadRows<kBc, kHd, kHd>(sk, static_cast<const T*>(p.k) + kv_off, kv_stride, k0, t_len);
  LoadRows<kBc, kHd, kHd>(sv, static_cast<const T*>(p.v) + kv_off, kv_stride, k0, t_len);
  const float* wk = sk + warp * kKeys * kHd;
  const float* wv = sv + warp * kKeys * kHd;
  float* wp = sp + warp * kKeys * kPPitch;
  float* wds = sds + warp * kKeys * kPPitch;
  const int key0 = k0 + warp * kKeys;

  float dk[Lane::kRowsPerLane][Lane::kCols] = {}, dv[Lane::kRowsPerLane][Lane::kCols] = {};
  for (int h = kvh * group; h < (kvh + 1) * group; ++h) {
    const int64_t q_off = (b * t_len * heads + h) * kHd;
    const T* q = static_cast<const T*>(p.q) + q_off;
    const T* dout = static_cast<const T*>(p.dout) + q_off;
    const T* out = static_cast<const T*>(p.out) + q_off;
    const float* lse = p.lse + (b * heads + h) * t_len;
    for (int q0 = k0 / kBr * kBr; q0 < t_len; q0 += kBr) {
      __syncthreads();  // the previous tile's q/dout/lse/D are no longer read
      LoadRows<kBr, kHd, kQPitch>(sq, q, q_stride, q0, t_len);
      LoadRows<kBr, kHd, kQPitch>(sdo, dout, q_stride, q0, t_len);
      for (int r = threadIdx.x; r < kBr; r += kThreads) {
        slse[r] = q0 + r < t_len ? lse[q0 + r] * kLog2e : 0.0f;
      }
      __syncthreads();
      // D = rowsum(dout * out), one warp per query row.
      for (int r = warp; r < kBr; r += kWarps) {
        const int i = q0 + r;
        float part = 0.0f;
        if (i < t_len) {
          for (int d = lane; d < kHd; d += 32) {
            part += sdo[r * kQPitch + d] * LoadF(out, i * q_stride + d);
          }
        }
        part = WarpSum(part);
        if (lane == 0) sd[r] = part;
      }
      __syncthreads();

      float s[kKeys][kQueries] = {}, dp[kKeys][kQueries] = {};
#pragma unroll 2
      for (int d = 0; d < kHd; d += 4) {
        float4 qq[kQueries], gg[kQueries];
#pragma unroll
        for (int c = 0; c < kQueries; ++c) {
          qq[c] = Ld4(sq + (lane + 32 * c) * kQPitch + d);
          gg[c] = Ld4(sdo + (lane + 32 * c) * kQPitch + d);
        }
#pragma unroll
        for (int kk = 0; kk < kKeys; ++kk) {
          const float4 k4 = Ld4(wk + kk * kHd + d), v4 = Ld4(wv + kk * kHd + d);
#pragma unroll
          for (int c = 0; c < kQueries; ++c) {
            s[kk][c] = Dot4(qq[c], k4, s[kk][c]);  // the forward's operand order: the same P
            dp[kk][c] = Dot4(gg[c], v4, dp[kk][c]);
          }
        }
      }
#pragma unroll
      for (int kk = 0; kk < kKeys; ++kk) {
        const int j = key0 + kk;
#pragma unroll
        for (int c = 0; c < kQueries; ++c) {
          const int il = lane + 32 * c, i = q0 + il;
          const float pr =
              j <= i && i < t_len && j < t_len ? exp2f(s[kk][c] * p.scale_log2 - slse[il]) : 0;
          wp[kk * kPPitch + il] = pr;
          wds[kk * kPPitch + il] = pr * (dp[kk][c] - sd[il]);
        }
      }
      __syncwarp();
#pragma unroll 2
      for (int i = 0; i < kBr; i += 4) {
        float4 pp[Lane::kRowsPerLane], ds[Lane::kRowsPerLane];
#pragma unroll
        for (int rr = 0; rr < Lane::kRowsPerLane; ++rr) {
          pp[rr] = Ld4(wp + Lane::Row(lane, rr) * kPPitch + i);
          ds[rr] = Ld4(wds + Lane::Row(lane, rr) * kPPitch + i);
        }
#pragma unroll
        for (int ii = 0; ii < 4; ++ii) {
#pragma unroll
          for (int cc = 0; cc < Lane::kCols; ++cc) {
            const float g = sdo[(i + ii) * kQPitch + Lane::Col(lane, cc)];
            const float x = sq[(i + ii) * kQPitch + Lane::Col(lane, cc)];
#pragma unroll
            for (int rr = 0; rr < Lane::kRowsPerLane; ++rr) {
              dv[rr][cc] = fmaf(Lane4(pp[rr], ii), g, dv[rr][cc]);
              dk[rr][cc] = fmaf(Lane4(ds[rr], ii), x, dk[rr][cc]);
            }
          }
        }
      }
      __syncwarp();
    }
  }

  T* dk_out = static_cast<T*>(p.dk) + kv_off;
  T* dv_out = static_cast<T*>(p.dv) + kv_off;
#pragma unroll
  for (int rr = 0; rr < Lane::kRowsPerLane; ++rr) {
    const int j = key0 + Lane::Row(lane, rr);
    if (j >= t_len) continue;
#pragma unroll
    for (int cc = 0; cc < Lane::kCols; ++cc) {
      const int64_t e = j * kv_stride + Lane::Col(lane, cc);
      StoreF(dk_out, e, dk[rr][cc] * p.scale);
      StoreF(dv_out, e, dv[rr][cc]);
    }
  }
}

void CheckCuda(cudaError_t err, const char* what) {
  DQT_CHECK(err == cudaSuccess) << what << ": " << cudaGetErrorString(err);
}

// Sets the dynamic shared memory of `kernel` (above the 48 KiB default) and launches it.
template <typename Kernel>
void Launch(Kernel kernel, dim3 grid, int smem_floats, const Params& p, cudaStream_t stream,
            const char* what) {
  const int bytes = smem_floats * static_cast<int>(sizeof(float));
  CheckCuda(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes), what);
  kernel<<<grid, kThreads, bytes, stream>>>(p);
  CheckCuda(cudaGetLastError(), what);
}

int CeilDiv(int a, int b) { return (a + b - 1) / b; }

template <typename T>
struct TypeTag {
  using type = T;
};

// Calls f(TypeTag<T>, integral_constant<int, hd>) for the activations' element type and head dim.
template <typename F>
void WithTypeAndHeadDim(DType dtype, int head_dim, const char* op, F&& f) {
  auto with_hd = [&](auto tag) {
    switch (head_dim) {
      case 8:
        return f(tag, std::integral_constant<int, 8>{});
      case 16:
        return f(tag, std::integral_constant<int, 16>{});
      case 32:
        return f(tag, std::integral_constant<int, 32>{});
      case 64:
        return f(tag, std::integral_constant<int, 64>{});
      case 128:
        return f(tag, std::integral_constant<int, 128>{});
      default:
        DQT_CHECK(false) << op << ": head_dim " << head_dim
                         << " is not supported by the CUDA twin (8, 16, 32, 64 or 128)";
    }
  };
  if (dtype == DType::kF32) {
    with_hd(TypeTag<float>{});
  } else {
    DQT_CHECK(dtype == DType::kBF16)
        << op << ": the CUDA twin takes f32 or bf16 activations, got " << DTypeName(dtype);
    with_hd(TypeTag<__nv_bfloat16>{});
  }
}

// Checks what the dispatcher does not (dtypes, grid limits) and fills the common fields.
Params MakeParams(const char* op, const AttentionShape& s, const TensorRef& saved,
                  std::initializer_list<NamedRef> activations) {
  const DType dtype = activations.begin()->ref.dtype;
  for (const NamedRef& r : activations) {
    DQT_CHECK(r.ref.dtype == dtype) << op << ": argument " << r.name << " has dtype "
                                    << DTypeName(r.ref.dtype) << ", q has " << DTypeName(dtype);
  }
  CheckDType(op, "saved", saved, {DType::kF32});
  DQT_CHECK(s.batch * s.heads <= INT_MAX && CeilDiv(s.seq, 64) <= 65535)
      << op << ": batch * heads " << s.batch * s.heads << " or seq " << s.seq << " too large";
  Params p{};
  p.lse = static_cast<float*>(saved.data);
  p.seq = s.seq;
  p.heads = s.heads;
  p.kv_heads = s.kv_heads;
  const double scale = 1.0 / std::sqrt(static_cast<double>(s.head_dim));
  p.scale = static_cast<float>(scale);
  p.scale_log2 = static_cast<float>(scale * 1.4426950408889634);
  return p;
}

}  // namespace

void AttentionForwardCuda(const AttentionForwardArgs& a, CUstream_st* stream) {
  const AttentionShape s = AttentionShapeOf(a.q, a.k);
  Params p = MakeParams("AttentionForwardCuda", s, a.saved,
                        {{"q", a.q}, {"k", a.k}, {"v", a.v}, {"out", a.out}});
  if (s.batch == 0 || s.seq == 0) return;
  p.q = a.q.data;
  p.k = a.k.data;
  p.v = a.v.data;
  p.out = a.out.data;
  WithTypeAndHeadDim(a.q.dtype, s.head_dim, "AttentionForwardCuda", [&](auto tag, auto hd) {
    using T = typename decltype(tag)::type;
    constexpr int kHd = decltype(hd)::value;
    using Tiles = QueryTiles<kHd>;
    const dim3 grid(static_cast<unsigned>(s.batch * s.heads), CeilDiv(s.seq, Tiles::kBr));
    Launch(AttentionForwardKernel<T, kHd>, grid, Tiles::kForwardFloats, p, stream,
           "AttentionForwardCuda");
  });
}

void AttentionBackwardCuda(const AttentionBackwardArgs& a, CUstream_st* stream) {
  const AttentionShape s = AttentionShapeOf(a.q, a.k);
  Params p = MakeParams("AttentionBackwardCuda", s, a.saved,
                        {{"q", a.q},
                         {"k", a.k},
                         {"v", a.v},
                         {"out", a.out},
                         {"dout", a.dout},
                         {"dq", a.dq},
                         {"dk", a.dk},
                         {"dv", a.dv}});
  if (s.batch == 0 || s.seq == 0) return;
  p.q = a.q.data;
  p.k = a.k.data;
  p.v = a.v.data;
  p.out = a.out.data;
  p.dout = a.dout.data;
  p.dq = a.dq.data;
  p.dk = a.dk.data;
  p.dv = a.dv.data;
  WithTypeAndHeadDim(a.q.dtype, s.head_dim, "AttentionBackwardCuda", [&](auto tag, auto hd) {
    using T = typename decltype(tag)::type;
    constexpr int kHd = decltype(hd)::value;
    using Q = QueryTiles<kHd>;
    using K = KeyTiles<kHd>;
    // Both kernels only read the forward's results, so they may run in either order.
    const dim3 dq_grid(static_cast<unsigned>(s.batch * s.heads), CeilDiv(s.seq, Q::kBr));
    Launch(AttentionBackwardDqKernel<T, kHd>, dq_grid, Q::kDqFloats, p, stream,
           "AttentionBackwardCuda (dq)");
    const dim3 dkv_grid(static_cast<unsigned>(s.batch * s.kv_heads), CeilDiv(s.seq, K::kBc));
    Launch(AttentionBackwardDkDvKernel<T, kHd>, dkv_grid, K::kFloats, p, stream,
           "AttentionBackwardCuda (dk, dv)");
  });
}

}  // namespace dqt
