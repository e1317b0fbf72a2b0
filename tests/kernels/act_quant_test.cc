// Per-token activation quantization: the CPU twin against the formula (grid, rounding, the 1e-5
// floor, an absmax passed in, codes), and the CUDA twin against the CPU twin bit for bit (the
// contract of kernels/cuda/act_quant.cu: f32 activations give identical outputs; bf16 ones give
// the CPU result on the widened values, rounded to bf16).
#include "kernels/act_quant.h"

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/fp8.h"
#include "tests/testing/twin.h"

namespace dqt {
namespace {

using testing::CudaContext;
using testing::ExpectBytesEqual;
using testing::TwinTensor;

TensorRef Host(std::vector<float>& v, std::initializer_list<int64_t> dims) {
  return RefOf(v.data(), Device::kCpu, dims);
}

// (rows, cols) normal values, row r scaled by 10^(r % 7 - 3) so scales span six decades.
std::vector<float> Activations(int64_t rows, int64_t cols, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> x(rows * cols);
  for (int64_t r = 0; r < rows; ++r) {
    const float scale = std::pow(10.0f, static_cast<float>(r % 7 - 3));
    for (int64_t j = 0; j < cols; ++j) x[r * cols + j] = scale * dist(rng);
  }
  return x;
}

// ---------------------------------------------------------------- CPU twin

TEST(ActQuant, ValuesLieOnTheRowGrid) {
  const int64_t rows = 9, cols = 45;
  std::vector<float> x = Activations(rows, cols, 1);
  const std::vector<float> x0 = x;
  ActQuantRef({Host(x, {rows, cols}), TensorRef()});
  for (int64_t r = 0; r < rows; ++r) {
    float amax = 0;
    for (int64_t j = 0; j < cols; ++j) amax = std::max(amax, std::fabs(x0[r * cols + j]));
    const double step = amax / 127.0;  // the grid spacing 1 / s
    for (int64_t j = 0; j < cols; ++j) {
      const double level = x[r * cols + j] / step;
      // On the grid: an integer level in [-127, 127] (relative slack for the float steps), and
      // the nearest grid point to the input (half a step plus that slack).
      EXPECT_NEAR(level, std::round(level), 1e-4) << r << "," << j;
      EXPECT_LE(std::fabs(level), 127.0 + 1e-4) << r << "," << j;
      EXPECT_LE(std::fabs(x[r * cols + j] - x0[r * cols + j]), step * (0.5 + 1e-4))
          << r << "," << j;
    }
  }
}

TEST(ActQuant, RowWithAbsMax127IsRoundedToNearestEven) {
  // absmax 127 gives s = 1: the result is nearbyint(x), ties to even, the extremes kept.
  std::vector<float> x = {127.0f, -127.0f, 2.5f, -2.5f, 3.5f, 0.49f, -0.51f, 126.5f};
  const std::vector<float> want = {127.0f, -127.0f, 2.0f, -2.0f, 4.0f, 0.0f, -1.0f, 126.0f};
  ActQuantRef({Host(x, {1, 8}), TensorRef()});
  EXPECT_EQ(x, want);
}

TEST(ActQuant, ZeroAndTinyRowsUseTheFloor) {
  // absmax floored at 1e-5: a zero row stays zero (no 0/0), a row of 1e-7 quantizes on the grid
  // of step 1e-5 / 127 instead of being blown up to +-127 levels.
  std::vector<float> x = {0.0f, 0.0f, 0.0f, 1e-7f, -1e-7f, 2e-6f};
  ActQuantRef({Host(x, {2, 3}), TensorRef()});
  const float s = 127.0f / 1e-5f;
  for (int j = 0; j < 3; ++j) EXPECT_EQ(x[j], 0.0f) << j;
  EXPECT_EQ(x[3], std::nearbyint(1e-7f * s) / s);  // level 1
  EXPECT_EQ(x[4], -x[3]);
  EXPECT_EQ(x[5], std::nearbyint(2e-6f * s) / s);  // level 25

  std::vector<float> zeros(4, 0.0f), scale(1);
  std::vector<int8_t> codes(4, 7);
  ActQuantCodesRef({Host(zeros, {1, 4}), RefOf(codes.data(), Device::kCpu, {1, 4}),
                    Host(scale, {1}), TensorRef()});
  EXPECT_EQ(scale[0], s);
  for (int8_t c : codes) EXPECT_EQ(c, 0);
}

TEST(ActQuant, AbsMaxArgumentOverridesTheRow) {
  // Row 0: absmax 2 > the row's 1: s = 63.5, 1.0 -> level 63.5 -> 64 (tie to even).
  // Row 1: absmax 1 < the row's 2: s = 127, +-2 clamp to levels 127 and -128.
  std::vector<float> x = {1.0f, -0.5f, 0.25f, 2.0f, -2.0f, 0.5f};
  std::vector<float> absmax = {2.0f, 1.0f};
  ActQuantRef({Host(x, {2, 3}), Host(absmax, {2})});
  EXPECT_EQ(x[0], 64.0f / 63.5f);
  EXPECT_EQ(x[1], std::nearbyint(-0.5f * 63.5f) / 63.5f);
  EXPECT_EQ(x[2], std::nearbyint(0.25f * 63.5f) / 63.5f);
  EXPECT_EQ(x[3], 1.0f);
  EXPECT_EQ(x[4], -128.0f / 127.0f);
  EXPECT_EQ(x[5], std::nearbyint(0.5f * 127.0f) / 127.0f);
}

float CompilerFp16(float x) {
#if defined(__clang__) && __clang_major__ < 15  // no _Float16 on x86 (the sanitizer build)
  return static_cast<float>(static_cast<__fp16>(x));
#else
  return static_cast<float>(static_cast<_Float16>(x));
#endif
}

TEST(Fp16Round, IsTheCompilersFloatToHalfConversion) {
  std::mt19937 rng(5);
  std::vector<float> values = {0.0f,      65504.0f,         65519.99f,    65520.0f,
                               1e9f,      6.103515625e-05f, 6.1e-05f,     5.96e-08f,
                               2.98e-08f, 2.99e-08f,        1.0f / 127.0f};
  for (int i = 0; i < 20000; ++i) {
    values.push_back(std::ldexp(static_cast<float>(rng() % (1u << 24)), -(int)(rng() % 60)));
  }
  for (float x : values) ASSERT_EQ(Fp16Round(x), CompilerFp16(x)) << "x = " << x;
}

TEST(ActQuant, Fp16ScaleKeepsTheCodesAndMultipliesByLlamaCppsScale) {
  // llama.cpp's Q8_0 activations: the same codes round(x * 127 / absmax), dequantized with
  // d = fp16(absmax / 127). Rows of 32 as the model passes them under activation_block 32.
  const int64_t rows = 7, cols = 32;
  const std::vector<float> x0 = Activations(rows, cols, 4);
  std::vector<float> plain = x0, half = x0;
  ActQuantRef({Host(plain, {rows, cols}), TensorRef()});
  ActQuantRef({.x = Host(half, {rows, cols}), .absmax = {}, .fp16_scale = true});
  int differ = 0;
  for (int64_t r = 0; r < rows; ++r) {
    float amax = 0;
    for (int64_t j = 0; j < cols; ++j) amax = std::max(amax, std::fabs(x0[r * cols + j]));
    const float s = 127.0f / amax, d = CompilerFp16(amax / 127.0f);
    for (int64_t j = 0; j < cols; ++j) {
      const float code = std::nearbyint(x0[r * cols + j] * s);
      EXPECT_EQ(plain[r * cols + j], code / s) << r << "," << j;
      EXPECT_EQ(half[r * cols + j], code * d) << r << "," << j;
      differ += half[r * cols + j] != plain[r * cols + j];
    }
  }
  EXPECT_GT(differ, rows * cols / 2) << "the fp16 scale must change most dequantized values";
}

TEST(ActQuantCodes, Int8CodesOverScaleAreTheFakeQuantizedValues) {
  const int64_t rows = 6, cols = 29;
  std::vector<float> x = Activations(rows, cols, 2), fake = x, scale(rows);
  std::vector<int8_t> codes(rows * cols);
  ActQuantCodesRef({Host(x, {rows, cols}), RefOf(codes.data(), Device::kCpu, {rows, cols}),
                    Host(scale, {rows}), TensorRef()});
  ActQuantRef({Host(fake, {rows, cols}), TensorRef()});
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t j = 0; j < cols; ++j) {
      EXPECT_EQ(codes[r * cols + j] / scale[r], fake[r * cols + j]) << r << "," << j;
    }
  }
}

TEST(ActQuantCodes, E4m3CodesRoundTrip) {
  const int64_t rows = 5, cols = 40;
  std::vector<float> x = Activations(rows, cols, 3), scale(rows);
  std::vector<Fp8E4M3> codes(rows * cols);
  ActQuantCodesRef({Host(x, {rows, cols}), RefOf(codes.data(), Device::kCpu, {rows, cols}),
                    Host(scale, {rows}), TensorRef()});
  for (int64_t r = 0; r < rows; ++r) {
    float amax = 0;
    for (int64_t j = 0; j < cols; ++j) amax = std::max(amax, std::fabs(x[r * cols + j]));
    EXPECT_EQ(scale[r], kE4m3Max / amax);
    bool hit_max = false;
    for (int64_t j = 0; j < cols; ++j) {
      const Fp8E4M3 c = codes[r * cols + j];
      const float v = E4m3ToFloat(c);
      hit_max |= std::fabs(v) == kE4m3Max;  // the row's absmax lands on +-448
      // e4m3 keeps 3 fraction bits: relative error <= 2^-4 for normals, absolute <= 2^-10
      // (half the subnormal step 2^-9) below them.
      const double xs = double(x[r * cols + j]) * scale[r];
      EXPECT_LE(std::fabs(v - xs), std::max(std::ldexp(std::fabs(xs), -4), std::ldexp(1.0, -10)))
          << r << "," << j;
      EXPECT_EQ(FloatToE4m3(v).bits, c.bits) << "code " << int{c.bits} << " does not round trip";
    }
    EXPECT_TRUE(hit_max) << "row " << r;
  }
}

// ---------------------------------------------------------------- CPU/CUDA twins

struct Case {
  int64_t rows, cols;
  DType dtype;
  std::string Name() const {
    return std::string(DTypeName(dtype)) + " " + std::to_string(rows) + "x" + std::to_string(cols);
  }
};

std::vector<Case> TwinCases() {
  std::vector<Case> cases;
  for (DType t : {DType::kF32, DType::kBF16}) {
    for (int64_t rows : {1, 7, 33, 130}) {
      for (int64_t cols : {1, 7, 33, 130, 1000, 4099}) cases.push_back({rows, cols, t});
    }
  }
  return cases;
}

// Activations of a case, as the CUDA twin will see them (bf16-rounded where bf16): row 1 zero
// (the floor), row 2 on the integer grid with ties (absmax 127), the rest random.
TwinTensor MakeInput(const Case& c, uint32_t seed) {
  TwinTensor x({c.rows, c.cols}, c.dtype);
  const std::vector<float> v = Activations(c.rows, c.cols, seed);
  for (int64_t i = 0; i < x.numel(); ++i) {
    const int64_t r = i / c.cols, j = i % c.cols;
    float value = v[i];
    if (r == 1) value = 0.0f;
    if (r == 2) value = j == 0 ? 127.0f : static_cast<float>(j % 64) - 31.5f;
    x.SetFloat(i, value);
  }
  return x;
}

// A passed-in absmax: 1.5x the row's own for even rows, 0.5x (so values clamp) for odd rows.
std::vector<float> OverridingAbsMax(const std::vector<float>& x, const Case& c) {
  std::vector<float> absmax(c.rows, 0.0f);
  for (int64_t r = 0; r < c.rows; ++r) {
    for (int64_t j = 0; j < c.cols; ++j)
      absmax[r] = std::max(absmax[r], std::fabs(x[r * c.cols + j]));
    absmax[r] *= r % 2 == 0 ? 1.5f : 0.5f;
  }
  return absmax;
}

// The expected activations in the view's storage: f32 as is, bf16 rounded to nearest even.
std::vector<uint8_t> Stored(const std::vector<float>& v, DType t) {
  std::vector<uint8_t> bytes(v.size() * DTypeSize(t));
  for (size_t i = 0; i < v.size(); ++i) {
    if (t == DType::kBF16) {
      reinterpret_cast<Bf16*>(bytes.data())[i] = Bf16{FloatToBf16(v[i])};
    } else {
      reinterpret_cast<float*>(bytes.data())[i] = v[i];
    }
  }
  return bytes;
}

TEST(ActQuantTwin, RowAbsMax) {
  DQT_REQUIRE_CUDA();
  for (const Case& c : TwinCases()) {
    TwinTensor x = MakeInput(c, 11), absmax({c.rows});
    x.ToDevice();
    RowAbsMax(CudaContext(), {x.DeviceRef(), absmax.DeviceRef()});
    absmax.FromDevice();
    std::vector<float> xf = x.Floats(), want(c.rows);
    RowAbsMaxRef({Host(xf, {c.rows, c.cols}), Host(want, {c.rows})});
    ExpectBytesEqual(want.data(), absmax.host<float>(), want.size() * 4, "absmax " + c.Name());
  }
}

TEST(ActQuantTwin, FakeQuantIsBitIdentical) {
  DQT_REQUIRE_CUDA();
  for (const Case& c : TwinCases()) {
    for (int variant = 0; variant < 4; ++variant) {
      const bool pass_absmax = variant & 1, fp16_scale = variant & 2;
      const std::string what = c.Name() + (pass_absmax ? " absmax passed" : " own absmax") +
                               (fp16_scale ? " fp16 scale" : "");
      TwinTensor x = MakeInput(c, 12), absmax({c.rows});
      std::vector<float> want = x.Floats();
      const std::vector<float> amax = OverridingAbsMax(want, c);
      std::copy(amax.begin(), amax.end(), absmax.host<float>());
      x.ToDevice(), absmax.ToDevice();
      ActQuant(CudaContext(), {.x = x.DeviceRef(),
                               .absmax = pass_absmax ? absmax.DeviceRef() : TensorRef(),
                               .fp16_scale = fp16_scale});
      x.FromDevice();
      ActQuantRef({.x = Host(want, {c.rows, c.cols}),
                   .absmax = pass_absmax ? absmax.HostRef() : TensorRef(),
                   .fp16_scale = fp16_scale});
      const std::vector<uint8_t> stored = Stored(want, c.dtype);
      ExpectBytesEqual(stored.data(), x.host<uint8_t>(), stored.size(), "fake quant " + what);
    }
  }
}

TEST(ActQuantTwin, CodesAndScalesAreBitIdentical) {
  DQT_REQUIRE_CUDA();
  for (const Case& c : TwinCases()) {
    for (DType code : {DType::kI8, DType::kF8E4M3}) {
      for (bool pass_absmax : {false, true}) {
        const std::string what =
            c.Name() + " " + DTypeName(code) + (pass_absmax ? " absmax passed" : " own absmax");
        TwinTensor x = MakeInput(c, 13), absmax({c.rows}), codes({c.rows, c.cols}, code),
                   scale({c.rows});
        std::vector<float> xf = x.Floats();
        const std::vector<float> amax = OverridingAbsMax(xf, c);
        std::copy(amax.begin(), amax.end(), absmax.host<float>());
        x.ToDevice(), absmax.ToDevice();
        ActQuantCodes(CudaContext(), {x.DeviceRef(), codes.DeviceRef(), scale.DeviceRef(),
                                      pass_absmax ? absmax.DeviceRef() : TensorRef()});
        codes.FromDevice(), scale.FromDevice();

        std::vector<uint8_t> codes_want(c.rows * c.cols);
        std::vector<float> scale_want(c.rows);
        TensorRef codes_ref = codes.HostRef();
        codes_ref.data = codes_want.data();
        ActQuantCodesRef({Host(xf, {c.rows, c.cols}), codes_ref, Host(scale_want, {c.rows}),
                          pass_absmax ? absmax.HostRef() : TensorRef()});
        ExpectBytesEqual(codes_want.data(), codes.host<uint8_t>(), codes_want.size(),
                         "codes " + what);
        ExpectBytesEqual(scale_want.data(), scale.host<float>(), scale_want.size() * 4,
                         "scales " + what);
      }
    }
  }
}

}  // namespace
}  // namespace dqt
