// Linear layer: finite differences of the CPU math in double; the quantized reference product
// against a naive integer product and the fake-quantized float product; CPU/CUDA twins (float
// forward and backward in f32 and bf16, INT8 accumulators bit for bit, FP8 against the e4m3
// reference).
#include "kernels/linear.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/act_quant.h"
#include "kernels/cpu/linear.h"
#include "kernels/fp8.h"
#include "tests/kernels/gradcheck.h"
#include "tests/testing/twin.h"

#if defined(DQT_HAVE_CUDA)
#include <cuda_runtime.h>
#endif

namespace dqt {
namespace {

using testing::CudaContext;
using testing::ExpectAllNear;
using testing::ExpectBytesEqual;
using testing::ExpectGradientMatches;
using testing::RandomVector;
using testing::TwinTensor;
using testing::WeightedSum;

// ---------------------------------------------------------------- CPU: float math

TEST(Linear, GradientAndAccumulation) {
  const int64_t n = 5;
  const int in = 7, out = 3;
  std::vector<double> x = RandomVector(n * in, 12), wt = RandomVector(out * in, 13);
  const std::vector<double> w = RandomVector(n * out, 14);
  std::vector<double> y(n * out);
  auto loss = [&] {
    cpu::LinearForward(x.data(), wt.data(), n, in, out, y.data());
    return WeightedSum(y, w);
  };
  std::vector<double> dx(n * in), dw(out * in, 0.0);
  cpu::LinearBackward(x.data(), wt.data(), w.data(), n, in, out, dx.data(), dw.data());
  ExpectGradientMatches(x, loss, dx, "linear dx");
  ExpectGradientMatches(wt, loss, dw, "linear dw");
  // A second backward accumulates into dw.
  std::vector<double> dw2 = dw;
  cpu::LinearBackward(x.data(), wt.data(), w.data(), n, in, out, static_cast<double*>(nullptr),
                      dw2.data());
  for (size_t i = 0; i < dw.size(); ++i) EXPECT_NEAR(dw2[i], 2 * dw[i], 1e-12);
}

TEST(Linear, BackwardAccumulatesDxOnRequest) {
  const int64_t n = 4;
  const int in = 6, out = 5;
  const std::vector<double> x = RandomVector(n * in, 15), w = RandomVector(out * in, 16);
  const std::vector<double> dy = RandomVector(n * out, 17), dx0 = RandomVector(n * in, 18);
  std::vector<double> dx = dx0, dx_fresh(n * in), dw(out * in, 0.0);
  cpu::LinearBackward(x.data(), w.data(), dy.data(), n, in, out, dx_fresh.data(), dw.data());
  cpu::LinearBackward(x.data(), w.data(), dy.data(), n, in, out, dx.data(), dw.data(),
                      Accumulate::kYes);
  for (size_t i = 0; i < dx.size(); ++i) EXPECT_NEAR(dx[i], dx0[i] + dx_fresh[i], 1e-12) << i;
}

// Tiles of W as the model's tiled weights use them: rows of W writing blocks of y's columns, and
// columns of W writing blocks of dx's columns (dx accumulated), equal to the whole products up to
// rounding (OpenBLAS's kernels depend on a product's width: measured, tiles of 10 of 53 rows
// change the last bits of 8 columns); dw computed without W, bit for bit as with it.
TEST(Linear, WeightTilesGiveTheWholeProducts) {
  const int64_t n = 9, in = 37, out = 53;
  std::vector<float> x(n * in), w(out * in), dy(n * out), dx0(n * in);
  std::mt19937 rng(21);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  for (auto* v : {&x, &w, &dy, &dx0}) {
    for (float& e : *v) e = dist(rng);
  }
  auto ref = [](std::vector<float>& v, std::initializer_list<int64_t> shape) {
    return RefOf(v.data(), Device::kCpu, shape);
  };
  const ExecContext cpu = ExecContext::Cpu();
  std::vector<float> y_whole(n * out), y_tiled(n * out);
  LinearForward(cpu, {ref(x, {n, in}), ref(w, {out, in}), ref(y_whole, {n, out})});
  for (int64_t r0 = 0; r0 < out; r0 += 10) {
    const int64_t rows = std::min<int64_t>(10, out - r0);
    std::vector<float> tile(w.begin() + r0 * in, w.begin() + (r0 + rows) * in);
    LinearForward(cpu, {.x = ref(x, {n, in}),
                        .w = ref(tile, {rows, in}),
                        .y = ref(y_tiled, {n, out}),
                        .col0 = r0});
  }
  for (int64_t i = 0; i < n * out; ++i) ASSERT_NEAR(y_whole[i], y_tiled[i], 1e-5f) << i;
  EXPECT_NE(y_tiled[n * out - 1], 0.0f);  // the last tile wrote its columns

  std::vector<float> dx_whole = dx0, dx_tiled = dx0, dw_whole(out * in), dw_tiled(out * in);
  LinearBackward(cpu, {ref(x, {n, in}), ref(w, {out, in}), ref(dy, {n, out}),
                       ref(dx_whole, {n, in}), ref(dw_whole, {out, in}), Accumulate::kYes});
  for (int64_t c0 = 0; c0 < in; c0 += 8) {
    const int64_t cols = std::min<int64_t>(8, in - c0);
    std::vector<float> tile;
    for (int64_t r = 0; r < out; ++r) {
      tile.insert(tile.end(), w.begin() + r * in + c0, w.begin() + r * in + c0 + cols);
    }
    LinearBackward(cpu, {.x = ref(x, {n, in}),
                         .w = ref(tile, {out, cols}),
                         .dy = ref(dy, {n, out}),
                         .dx = ref(dx_tiled, {n, in}),
                         .dx_mode = Accumulate::kYes,
                         .col0 = c0});
  }
  LinearBackward(cpu,
                 {.x = ref(x, {n, in}), .dy = ref(dy, {n, out}), .dw = ref(dw_tiled, {out, in})});
  for (int64_t i = 0; i < n * in; ++i) ASSERT_NEAR(dx_whole[i], dx_tiled[i], 1e-5f) << i;
  EXPECT_EQ(dw_whole, dw_tiled);
  // A tile with dw, or one past the edge, is refused.
  std::vector<float> tile(out * 8);
  EXPECT_DEATH(LinearBackward(cpu, {.x = ref(x, {n, in}),
                                    .w = ref(tile, {out, 8}),
                                    .dy = ref(dy, {n, out}),
                                    .dw = ref(dw_tiled, {out, in})}),
               "LinearBackward");
  EXPECT_DEATH(
      LinearForward(
          cpu,
          {.x = ref(x, {n, in}), .w = ref(w, {out, in}), .y = ref(y_tiled, {n, out}), .col0 = 1}),
      "LinearForward");
}

// ---------------------------------------------------------------- CPU: quantized reference

std::vector<int8_t> RandomCodes(size_t count, int lo, int hi, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> dist(lo, hi);
  std::vector<int8_t> codes(count);
  for (int8_t& c : codes) c = static_cast<int8_t>(dist(rng));
  return codes;
}

std::vector<float> RandomFloats(size_t count, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(count);
  for (float& x : v) x = dist(rng);
  return v;
}

TEST(QuantizedLinear, Int8AccumulatorsAreTheIntegerProduct) {
  const int64_t n = 5, in = 37, out = 6;  // the CPU twin has no width restriction
  std::vector<int8_t> xq = RandomCodes(n * in, -128, 127, 1),
                      wq = RandomCodes(out * in, -128, 127, 2);
  xq[0] = -128;  // the extreme product (-128)^2 summed many times stays exact in int32
  wq[0] = -128;
  std::vector<float> xs(n, 1.0f), ws(1, 1.0f);
  std::vector<int32_t> y(n * out);
  QuantizedLinearForwardRef(
      {RefOf(xq.data(), Device::kCpu, {n, in}), RefOf(xs.data(), Device::kCpu, {n}),
       RefOf(wq.data(), Device::kCpu, {out, in}), RefOf(ws.data(), Device::kCpu, {1}),
       RefOf(y.data(), Device::kCpu, {n, out})});
  for (int64_t r = 0; r < n; ++r) {
    for (int64_t c = 0; c < out; ++c) {
      int64_t acc = 0;
      for (int64_t k = 0; k < in; ++k) acc += int64_t{xq[r * in + k]} * wq[c * in + k];
      EXPECT_EQ(y[r * out + c], acc) << "row " << r << " col " << c;
    }
  }
}

// y = acc / (s_x s_w) is the float product of the fake-quantized activations and the dequantized
// weights. Tolerance: the float product rounds each dequantized input (2 u) and accumulates
// in fp32 (in u); the reference's exact quotient rounds once: |err| <= (in + 3) u sum_k |x_k w_k|
// with u = 2^-24, taken as 2 (in + 3) u for margin.
// row_by_row: each row of y is the same bits computed among 37 rows by two threads or alone by
// one (what block activation rounding needs), and the same product as the plain path.
TEST(Linear, RowByRowGivesEachRowTheSameBitsForAnyRowsAndThreads) {
  const int64_t n = 37, in = 256, out = 300;
  std::vector<float> x = RandomFloats(n * in, 21), w = RandomFloats(out * in, 22);
  std::vector<float> y(n * out), y_plain(n * out), y_row(out);
  const int threads = omp_get_max_threads();
  omp_set_num_threads(2);
  LinearForwardRef({.x = RefOf(x.data(), Device::kCpu, {n, in}),
                    .w = RefOf(w.data(), Device::kCpu, {out, in}),
                    .y = RefOf(y.data(), Device::kCpu, {n, out}),
                    .row_by_row = true});
  LinearForwardRef({.x = RefOf(x.data(), Device::kCpu, {n, in}),
                    .w = RefOf(w.data(), Device::kCpu, {out, in}),
                    .y = RefOf(y_plain.data(), Device::kCpu, {n, out})});
  omp_set_num_threads(1);
  for (int64_t r = 0; r < n; ++r) {
    LinearForwardRef({.x = RefOf(x.data() + r * in, Device::kCpu, {1, in}),
                      .w = RefOf(w.data(), Device::kCpu, {out, in}),
                      .y = RefOf(y_row.data(), Device::kCpu, {1, out}),
                      .row_by_row = true});
    for (int64_t c = 0; c < out; ++c) {
      ASSERT_EQ(y_row[c], y[r * out + c]) << "row " << r << " col " << c;
      ASSERT_NEAR(y[r * out + c], y_plain[r * out + c], 1e-4) << "row " << r << " col " << c;
    }
  }
  omp_set_num_threads(threads);
}

TEST(QuantizedLinear, Int8MatchesTheFakeQuantizedFloatProduct) {
  const int64_t n = 7, in = 64, out = 9;
  std::vector<float> x = RandomFloats(n * in, 3);
  const std::vector<int8_t> wq = RandomCodes(out * in, -7, 7, 4);
  std::vector<float> ws(out);
  for (int64_t c = 0; c < out; ++c) ws[c] = 7.0f / (0.05f + 0.01f * c);
  std::vector<int8_t> xq(n * in);
  std::vector<float> xs(n);
  ActQuantCodesRef({RefOf(x.data(), Device::kCpu, {n, in}), RefOf(xq.data(), Device::kCpu, {n, in}),
                    RefOf(xs.data(), Device::kCpu, {n}), TensorRef()});
  std::vector<float> y(n * out);
  QuantizedLinearForwardRef(
      {RefOf(xq.data(), Device::kCpu, {n, in}), RefOf(xs.data(), Device::kCpu, {n}),
       RefOf(wq.data(), Device::kCpu, {out, in}), RefOf(ws.data(), Device::kCpu, {out}),
       RefOf(y.data(), Device::kCpu, {n, out})});

  ActQuantRef({RefOf(x.data(), Device::kCpu, {n, in}), TensorRef()});  // x <- fake-quantized
  std::vector<float> w(out * in), y_float(n * out);
  for (int64_t c = 0; c < out; ++c) {
    for (int64_t k = 0; k < in; ++k) w[c * in + k] = wq[c * in + k] / ws[c];
  }
  LinearForwardRef({RefOf(x.data(), Device::kCpu, {n, in}),
                    RefOf(w.data(), Device::kCpu, {out, in}),
                    RefOf(y_float.data(), Device::kCpu, {n, out})});
  for (int64_t r = 0; r < n; ++r) {
    for (int64_t c = 0; c < out; ++c) {
      double abs_sum = 0;
      for (int64_t k = 0; k < in; ++k) abs_sum += std::fabs(double(x[r * in + k]) * w[c * in + k]);
      const double tol = 2.0 * (in + 3) * std::ldexp(1.0, -24) * abs_sum;
      EXPECT_NEAR(y[r * out + c], y_float[r * out + c], tol) << "row " << r << " col " << c;
    }
  }
}

// ---------------------------------------------------------------- CPU/CUDA twins: float

struct Shape {
  int64_t n, in, out;
};
std::string Name(const Shape& s, DType t) {
  return std::string(DTypeName(t)) + " n=" + std::to_string(s.n) + " in=" + std::to_string(s.in) +
         " out=" + std::to_string(s.out);
}
const Shape kFloatShapes[] = {{1, 7, 5}, {7, 33, 130}, {33, 130, 7}, {130, 64, 48}, {130, 17, 1}};

void Fill(TwinTensor& t, uint32_t seed) {
  const std::vector<float> v = RandomFloats(t.numel(), seed);
  for (int64_t i = 0; i < t.numel(); ++i) t.SetFloat(i, v[i]);
}

TensorRef HostF32(std::vector<float>& v, std::initializer_list<int64_t> dims) {
  return RefOf(v.data(), Device::kCpu, dims);
}

// max over outputs of sum_k |a(i, k) b(k, j)| for row-major a (m, k) and b given as (k, n)
// (b_trans: stored (n, k)); the scale of a product's rounding error.
double MaxAbsDot(const std::vector<float>& a, const std::vector<float>& b, int64_t m, int64_t k,
                 int64_t n, bool a_trans, bool b_trans) {
  double best = 0;
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double s = 0;
      for (int64_t l = 0; l < k; ++l) {
        const float av = a_trans ? a[l * m + i] : a[i * k + l];
        const float bv = b_trans ? b[j * k + l] : b[l * n + j];
        s += std::fabs(double(av) * bv);
      }
      best = std::max(best, s);
    }
  }
  return best;
}

double MaxAbs(const std::vector<float>& v) {
  double m = 0;
  for (float x : v) m = std::max(m, double(std::fabs(x)));
  return m;
}

// Tolerances. Both twins accumulate in fp32 in different orders: each is within k u S of the exact
// product (S = sum_k |a b|, u = 2^-24), so they differ by at most 2 k u S; 4 k u S leaves room for
// tensor-core accumulation that truncates. A bf16 output is additionally rounded once (relative
// 2^-9 of the value), allowed as 2^-8.
double AbsTol(int64_t k, double s) { return 4.0 * k * std::ldexp(1.0, -24) * s; }
double RelTol(DType t) { return t == DType::kBF16 ? std::ldexp(1.0, -8) : 0.0; }

TEST(LinearTwin, Forward) {
  DQT_REQUIRE_CUDA();
  for (DType t : {DType::kF32, DType::kBF16}) {
    for (const Shape& s : kFloatShapes) {
      TwinTensor x({s.n, s.in}, t), w({s.out, s.in}, t), y({s.n, s.out}, t);
      Fill(x, 1), Fill(w, 2), Fill(y, 3);  // y is overwritten
      x.ToDevice(), w.ToDevice(), y.ToDevice();
      LinearForward(CudaContext(), {x.DeviceRef(), w.DeviceRef(), y.DeviceRef()});
      y.FromDevice();

      std::vector<float> xf = x.Floats(), wf = w.Floats(), want(s.n * s.out);
      LinearForwardRef(
          {HostF32(xf, {s.n, s.in}), HostF32(wf, {s.out, s.in}), HostF32(want, {s.n, s.out})});
      const double abs_sum = MaxAbsDot(xf, wf, s.n, s.in, s.out, false, true);
      ExpectAllNear(want, y.Floats(), RelTol(t), AbsTol(s.in, abs_sum), "forward " + Name(s, t));
    }
  }
}

// dx overwritten and accumulated, dw accumulated onto non-zero values (f32 whatever x's dtype),
// and a backward with dw only.
TEST(LinearTwin, Backward) {
  DQT_REQUIRE_CUDA();
  for (DType t : {DType::kF32, DType::kBF16}) {
    for (const Shape& s : kFloatShapes) {
      for (Accumulate mode : {Accumulate::kNo, Accumulate::kYes}) {
        const std::string what =
            Name(s, t) + (mode == Accumulate::kYes ? " dx accumulated" : " dx overwritten");
        TwinTensor x({s.n, s.in}, t), w({s.out, s.in}, t), dy({s.n, s.out}, t);
        TwinTensor dx({s.n, s.in}, t), dw({s.out, s.in}, DType::kF32);
        Fill(x, 4), Fill(w, 5), Fill(dy, 6), Fill(dx, 7), Fill(dw, 8);
        for (TwinTensor* tt : {&x, &w, &dy, &dx, &dw}) tt->ToDevice();
        std::vector<float> xf = x.Floats(), wf = w.Floats(), dyf = dy.Floats();
        std::vector<float> dx_want = dx.Floats(), dw_want = dw.Floats();
        // The values accumulated onto enter the error bound with one more rounding.
        const double dw0 = MaxAbs(dw_want);
        const double dx0 = mode == Accumulate::kYes ? MaxAbs(dx_want) : 0.0;

        LinearBackward(CudaContext(), {x.DeviceRef(), w.DeviceRef(), dy.DeviceRef(), dx.DeviceRef(),
                                       dw.DeviceRef(), mode});
        dx.FromDevice(), dw.FromDevice();
        LinearBackwardRef({HostF32(xf, {s.n, s.in}), HostF32(wf, {s.out, s.in}),
                           HostF32(dyf, {s.n, s.out}), HostF32(dx_want, {s.n, s.in}),
                           HostF32(dw_want, {s.out, s.in}), mode});
        const double s_dx = MaxAbsDot(dyf, wf, s.n, s.out, s.in, false, false);
        const double s_dw = MaxAbsDot(dyf, xf, s.out, s.n, s.in, true, false);
        ExpectAllNear(dx_want, dx.Floats(), RelTol(t), AbsTol(s.out + 1, s_dx + dx0), "dx " + what);
        // dw is f32 on both twins: no output rounding beyond the accumulation.
        ExpectAllNear(dw_want, dw.Floats(), 0.0, AbsTol(s.n + 1, s_dw + dw0), "dw " + what);
      }

      // dw only: dx empty.
      TwinTensor x({s.n, s.in}, t), w({s.out, s.in}, t), dy({s.n, s.out}, t);
      TwinTensor dw({s.out, s.in}, DType::kF32);
      Fill(x, 9), Fill(w, 10), Fill(dy, 11);
      x.ToDevice(), w.ToDevice(), dy.ToDevice(), dw.ToDevice();
      LinearBackward(CudaContext(),
                     {x.DeviceRef(), w.DeviceRef(), dy.DeviceRef(), TensorRef(), dw.DeviceRef()});
      dw.FromDevice();
      std::vector<float> xf = x.Floats(), wf = w.Floats(), dyf = dy.Floats(), dw_want = dw.Floats();
      std::fill(dw_want.begin(), dw_want.end(), 0.0f);
      LinearBackwardRef({HostF32(xf, {s.n, s.in}), HostF32(wf, {s.out, s.in}),
                         HostF32(dyf, {s.n, s.out}), TensorRef(), HostF32(dw_want, {s.out, s.in})});
      const double s_dw = MaxAbsDot(dyf, xf, s.out, s.n, s.in, true, false);
      ExpectAllNear(dw_want, dw.Floats(), 0.0, AbsTol(s.n, s_dw), "dw only " + Name(s, t));
    }
  }
}

// ---------------------------------------------------------------- CPU/CUDA twins: quantized

// in and out multiples of 16 (the CUDA twin's documented requirement); n free: 1 and 7 go through
// the padded tail only, 48 not at all, 33 and 130 both ways.
const Shape kQuantShapes[] = {
    {1, 16, 16}, {7, 32, 48}, {48, 16, 32}, {33, 64, 16}, {130, 128, 144}};

int ComputeCapability() {
#if defined(DQT_HAVE_CUDA)
  int major = 0, minor = 0;
  cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, 0);
  cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, 0);
  return major * 10 + minor;
#else
  return 0;
#endif
}

// Quantized inputs of one shape on both devices: activation scales per row, weight scales per
// output row (or one), codes set by the caller.
struct QuantInputs {
  QuantInputs(const Shape& s, DType codes, bool per_row_w)
      : xq({s.n, s.in}, codes), wq({s.out, s.in}, codes), xs({s.n}), ws({per_row_w ? s.out : 1}) {
    for (int64_t r = 0; r < s.n; ++r) xs.host<float>()[r] = 127.0f / (0.5f + 0.37f * (r % 11));
    for (int64_t c = 0; c < ws.numel(); ++c)
      ws.host<float>()[c] = 7.0f / (0.02f + 0.003f * (c % 13));
  }
  void ToDevice() { xq.ToDevice(), wq.ToDevice(), xs.ToDevice(), ws.ToDevice(); }
  QuantizedLinearForwardArgs Device(TwinTensor& y) {
    return {xq.DeviceRef(), xs.DeviceRef(), wq.DeviceRef(), ws.DeviceRef(), y.DeviceRef()};
  }
  QuantizedLinearForwardArgs Host(TensorRef y) {
    return {xq.HostRef(), xs.HostRef(), wq.HostRef(), ws.HostRef(), y};
  }
  TwinTensor xq, wq, xs, ws;
};

// Int8: raw int32 accumulators bit for bit; f32 y bit for bit (both twins round the exact
// quotient acc / (s_x s_w), computed in double, once); bf16 y equals the CPU's f32 y rounded.
TEST(QuantizedLinearTwin, Int8) {
  DQT_REQUIRE_CUDA();
  for (const Shape& s : kQuantShapes) {
    for (bool per_row_w : {true, false}) {
      const std::string what = "int8 " + Name(s, DType::kI8) + (per_row_w ? " per-row" : " scalar");
      QuantInputs q(s, DType::kI8, per_row_w);
      const std::vector<int8_t> xq = RandomCodes(s.n * s.in, -128, 127, 21);
      const std::vector<int8_t> wq = RandomCodes(s.out * s.in, -128, 127, 22);
      std::copy(xq.begin(), xq.end(), q.xq.host<int8_t>());
      std::copy(wq.begin(), wq.end(), q.wq.host<int8_t>());
      q.ToDevice();

      TwinTensor acc({s.n, s.out}, DType::kI32), y32({s.n, s.out}), y16({s.n, s.out}, DType::kBF16);
      QuantizedLinearForward(CudaContext(), q.Device(acc));
      QuantizedLinearForward(CudaContext(), q.Device(y32));
      QuantizedLinearForward(CudaContext(), q.Device(y16));
      acc.FromDevice(), y32.FromDevice(), y16.FromDevice();

      std::vector<int32_t> acc_want(s.n * s.out);
      std::vector<float> y_want(s.n * s.out);
      QuantizedLinearForwardRef(q.Host(RefOf(acc_want.data(), Device::kCpu, {s.n, s.out})));
      QuantizedLinearForwardRef(q.Host(RefOf(y_want.data(), Device::kCpu, {s.n, s.out})));
      std::vector<Bf16> y16_want(y_want.size());
      for (size_t i = 0; i < y_want.size(); ++i) y16_want[i] = Bf16{FloatToBf16(y_want[i])};
      ExpectBytesEqual(acc_want.data(), acc.host<int32_t>(), acc_want.size() * 4, what + " i32");
      ExpectBytesEqual(y_want.data(), y32.host<float>(), y_want.size() * 4, what + " f32");
      ExpectBytesEqual(y16_want.data(), y16.host<Bf16>(), y16_want.size() * 2, what + " bf16");
    }
  }
}

// FP8 with integer codes |q| <= 8 (exact in e4m3): every partial sum is an integer below 2^14,
// exact in any accumulator the tensor cores use, so y is bit-identical to the CPU twin.
TEST(QuantizedLinearTwin, Fp8SmallIntegersExact) {
  DQT_REQUIRE_CUDA();
  if (ComputeCapability() < 89) GTEST_SKIP() << "FP8 needs compute capability 8.9";
  for (const Shape& s : kQuantShapes) {
    QuantInputs q(s, DType::kF8E4M3, true);
    const std::vector<int8_t> xq = RandomCodes(s.n * s.in, -8, 8, 23);
    const std::vector<int8_t> wq = RandomCodes(s.out * s.in, -8, 8, 24);
    for (size_t i = 0; i < xq.size(); ++i) q.xq.host<Fp8E4M3>()[i] = FloatToE4m3(xq[i]);
    for (size_t i = 0; i < wq.size(); ++i) q.wq.host<Fp8E4M3>()[i] = FloatToE4m3(wq[i]);
    q.ToDevice();
    TwinTensor y({s.n, s.out});
    QuantizedLinearForward(CudaContext(), q.Device(y));
    y.FromDevice();
    std::vector<float> want(s.n * s.out);
    QuantizedLinearForwardRef(q.Host(RefOf(want.data(), Device::kCpu, {s.n, s.out})));
    ExpectBytesEqual(want.data(), y.host<float>(), want.size() * 4,
                     "fp8 exact " + Name(s, DType::kF8E4M3));
  }
}

// FP8 with activation codes from ActQuantCodes (any e4m3 value up to 448) against the CPU's exact
// e4m3 product. Tolerance: cuBLASLt accumulates in fp32 (periodically promoted from the tensor
// cores' narrower accumulators); 2^-10 of the scaled sum of |products| bounds that with margin
// while any layout error (a wrong operand element) is of the order of the sum itself. bf16 adds
// one rounding of the output (2^-8 relative, as in the float twins).
TEST(QuantizedLinearTwin, Fp8ActivationCodes) {
  DQT_REQUIRE_CUDA();
  if (ComputeCapability() < 89) GTEST_SKIP() << "FP8 needs compute capability 8.9";
  for (const Shape& s : kQuantShapes) {
    QuantInputs q(s, DType::kF8E4M3, true);
    std::vector<float> x = RandomFloats(s.n * s.in, 25);
    ActQuantCodesRef(
        {RefOf(x.data(), Device::kCpu, {s.n, s.in}), q.xq.HostRef(), q.xs.HostRef(), TensorRef()});
    const std::vector<int8_t> wq = RandomCodes(s.out * s.in, -7, 7, 26);
    for (size_t i = 0; i < wq.size(); ++i) q.wq.host<Fp8E4M3>()[i] = FloatToE4m3(wq[i]);
    q.ToDevice();
    TwinTensor y32({s.n, s.out}), y16({s.n, s.out}, DType::kBF16);
    QuantizedLinearForward(CudaContext(), q.Device(y32));
    QuantizedLinearForward(CudaContext(), q.Device(y16));
    y32.FromDevice(), y16.FromDevice();
    std::vector<float> want(s.n * s.out);
    QuantizedLinearForwardRef(q.Host(RefOf(want.data(), Device::kCpu, {s.n, s.out})));

    double scaled_sum = 0;
    for (int64_t r = 0; r < s.n; ++r) {
      for (int64_t c = 0; c < s.out; ++c) {
        double sum = 0;
        for (int64_t k = 0; k < s.in; ++k) {
          sum +=
              std::fabs(double(E4m3ToFloat(q.xq.host<Fp8E4M3>()[r * s.in + k])) * wq[c * s.in + k]);
        }
        scaled_sum =
            std::max(scaled_sum, sum / (double(q.xs.host<float>()[r]) * q.ws.host<float>()[c]));
      }
    }
    const double tol = std::ldexp(scaled_sum, -10);
    ExpectAllNear(want, y32.Floats(), 0.0, tol, "fp8 f32 " + Name(s, DType::kF8E4M3));
    ExpectAllNear(want, y16.Floats(), std::ldexp(1.0, -8), tol,
                  "fp8 bf16 " + Name(s, DType::kF8E4M3));
  }
}

// Widths that are not multiples of 16 are rejected with a message, not computed wrongly.
TEST(QuantizedLinearTwin, RejectsUnalignedWidths) {
  DQT_REQUIRE_CUDA();
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  const Shape s = {3, 20, 16};
  QuantInputs q(s, DType::kI8, true);
  q.ToDevice();
  TwinTensor y({s.n, s.out}, DType::kI32);
  EXPECT_DEATH(QuantizedLinearForward(CudaContext(), q.Device(y)), "multiples of 16");
}

}  // namespace
}  // namespace dqt
