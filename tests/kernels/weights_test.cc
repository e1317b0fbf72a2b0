// Weight ops: exact values of the CPU twins against hand-computed references, and the CUDA twins
// equal to the CPU twins bit for bit (same correctly rounded fp32 operations and conversions).
#include "kernels/weights.h"

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernels/fp8.h"
#include "tests/testing/twin.h"

namespace dqt {
namespace {

using testing::ExpectBytesEqual;
using testing::TwinTensor;

template <typename T>
TensorRef Host(std::vector<T>& v) {
  return RefOf(v.data(), Device::kCpu, {static_cast<int64_t>(v.size())});
}

TEST(Dequantize, DividesByTheGroupScale) {
  std::vector<int8_t> codes = {3, -4, 1, 127};
  std::vector<float> scales = {2.0f, 0.5f}, out(4);
  Dequantize(ExecContext::Cpu(), {Host(codes), Host(scales), 2, Host(out)});
  EXPECT_EQ(out, (std::vector<float>{1.5f, -2.0f, 2.0f, 254.0f}));
}

// A column window of a (3, 4) matrix with one scale per row: the same values as the matching
// elements of the whole dequantization.
TEST(Dequantize, ColumnWindowOfRows) {
  std::vector<int8_t> codes = {1, 2, 3, 4, -5, -6, -7, -8, 9, 10, 11, 12};
  std::vector<float> scales = {2.0f, 4.0f, 8.0f}, whole(12), window(6);
  Dequantize(ExecContext::Cpu(), {Host(codes), Host(scales), 4, Host(whole)});
  Dequantize(ExecContext::Cpu(), {.codes = Host(codes),
                                  .scales = Host(scales),
                                  .group = 4,
                                  .out = Host(window),
                                  .row_len = 4,
                                  .col0 = 1});
  for (int r = 0; r < 3; ++r) {
    for (int c = 0; c < 2; ++c) EXPECT_EQ(window[r * 2 + c], whole[r * 4 + 1 + c]) << r << c;
  }
  EXPECT_EQ(window[0], 1.0f);  // 2 / 2
  std::vector<float> too_wide(9);
  EXPECT_DEATH(Dequantize(ExecContext::Cpu(), {.codes = Host(codes),
                                               .scales = Host(scales),
                                               .group = 4,
                                               .out = Host(too_wide),
                                               .row_len = 4,
                                               .col0 = 2}),
               "Dequantize");
}

TEST(Ternarize, AbsmeanRule) {
  std::vector<float> w = {0.5f, -1.5f, 0.1f, 2.0f}, out(4), m(1);
  Ternarize(ExecContext::Cpu(), {Host(w), Host(out), Host(m)});
  const float mean = static_cast<float>((0.5 + 1.5 + double(0.1f) + 2.0) / 4);
  EXPECT_EQ(m[0], mean);
  // 0.5 / m = 0.49 -> 0; -1.5 / m = -1.46 -> -1; 0.1 / m -> 0; 2 / m = 1.95 -> 2 -> clamped to 1.
  EXPECT_EQ(out, (std::vector<float>{0.0f, -mean, 0.0f, mean}));
  std::vector<float> zeros(3, 0.0f), zout(3);
  Ternarize(ExecContext::Cpu(), {Host(zeros), Host(zout), Host(m)});
  EXPECT_EQ(m[0], 1e-5f);  // the floor of the mean
}

TEST(QuantizeToGrid, RoundsHalfToEvenAndClamps) {
  std::vector<float> w = {0.5f, 1.5f, 2.5f, -0.5f, -2.5f, 10.0f, -10.0f, 0.74f};
  std::vector<float> scales = {1.0f, 2.0f};  // groups of 4
  std::vector<int8_t> codes(8);
  QuantizeToGrid(ExecContext::Cpu(),
                 {Host(w), Host(scales), 4, QuantGrid::Integer(3), Host(codes)});
  // int3: [-4, 3]. The second group is scaled by 2: -5 -> -4, 20 -> 3, -20 -> -4, 1.48 -> 1.
  EXPECT_EQ(codes, (std::vector<int8_t>{0, 2, 2, 0, -4, 3, -4, 1}));
  QuantizeToGrid(ExecContext::Cpu(), {Host(w), Host(scales), 4, QuantGrid::Ternary(), Host(codes)});
  EXPECT_EQ(codes, (std::vector<int8_t>{0, 1, 1, 0, -1, 1, -1, 1}));
}

TEST(Convert, RoundsToNearestEvenAndConvertsCodesToE4m3) {
  // 1 + 2^-8 ties down to 1 (even); 1 + 3 * 2^-8 ties up to 1 + 2^-6 (even mantissa 2).
  std::vector<float> f = {1.0f, 1.00390625f, 1.01171875f, -2.0f};
  std::vector<Bf16> b(4);
  Convert(ExecContext::Cpu(), {Host(f), Host(b)});
  const uint16_t want_bits[] = {0x3F80, 0x3F80, 0x3F82, 0xC000};
  for (int i = 0; i < 4; ++i) EXPECT_EQ(b[i].bits, want_bits[i]) << i;
  std::vector<float> back(4);
  Convert(ExecContext::Cpu(), {Host(b), Host(back)});
  EXPECT_EQ(back, (std::vector<float>{1.0f, 1.0f, 1.015625f, -2.0f}));
  // e4m3 (bias 7): 1 = 0x38, 16 = 0x58, -3 = 1.5 * 2^1 = 0xC4, 0 = 0x00; 17 rounds to 16 (even),
  // 127 rounds up to 128 = 0x70.
  std::vector<int8_t> codes = {1, 16, -3, 0, 17, 127};
  std::vector<Fp8E4M3> e(6);
  Convert(ExecContext::Cpu(), {Host(codes), Host(e)});
  const uint8_t want_e[] = {0x38, 0x58, 0xC4, 0x00, 0x58, 0x70};
  for (int i = 0; i < 6; ++i) EXPECT_EQ(e[i].bits, want_e[i]) << i;
}

// ---------------------------------------------------------------- CUDA twins: bit for bit

void FillFloats(TwinTensor& t, uint32_t seed, float std) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, std);
  for (int64_t i = 0; i < t.numel(); ++i) t.SetFloat(i, dist(rng));
}
void FillCodes(TwinTensor& t, uint32_t seed) {
  std::mt19937 rng(seed);
  for (int64_t i = 0; i < t.numel(); ++i) t.host<int8_t>()[i] = static_cast<int8_t>(rng() & 0xFF);
}
TwinTensor Positive(int64_t n, uint32_t seed) {
  TwinTensor t({n});
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(0.5f, 40.0f);
  for (int64_t i = 0; i < n; ++i) t.SetFloat(i, dist(rng));
  return t;
}

struct Sizes {
  int64_t n, group;
};
constexpr Sizes kSizes[] = {{1, 1},          {3, 3}, {33, 11}, {1000, 1000}, {130 * 1000, 1000},
                            {100003, 100003}};

TEST(DequantizeTwin, BitIdentical) {
  DQT_REQUIRE_CUDA();
  for (DType dtype : {DType::kF32, DType::kBF16}) {
    for (const Sizes& s : kSizes) {
      TwinTensor codes({s.n}, DType::kI8), out({s.n}, dtype), cpu_out({s.n}, dtype);
      TwinTensor scales = Positive(s.n / s.group, 1);
      FillCodes(codes, 2);
      codes.ToDevice();
      scales.ToDevice();
      Dequantize(ExecContext::Cpu(),
                 {codes.HostRef(), scales.HostRef(), s.group, cpu_out.HostRef()});
      Dequantize(testing::CudaContext(),
                 {codes.DeviceRef(), scales.DeviceRef(), s.group, out.DeviceRef()});
      out.FromDevice();
      ExpectBytesEqual(cpu_out.host<uint8_t>(), out.host<uint8_t>(), s.n * DTypeSize(dtype),
                       std::string("dequantize ") + DTypeName(dtype) + " n=" + std::to_string(s.n));
    }
  }
}

// A column window (rows of 1000, per-row scales), as the model's tiles of a large tensor use.
TEST(DequantizeTwin, ColumnWindowBitIdentical) {
  DQT_REQUIRE_CUDA();
  const int64_t rows = 517, len = 1000, col0 = 129, width = 83;
  for (DType dtype : {DType::kF32, DType::kBF16}) {
    TwinTensor codes({rows * len}, DType::kI8), out({rows * width}, dtype);
    TwinTensor cpu_out({rows * width}, dtype);
    TwinTensor scales = Positive(rows, 3);
    FillCodes(codes, 4);
    codes.ToDevice();
    scales.ToDevice();
    Dequantize(ExecContext::Cpu(), {.codes = codes.HostRef(),
                                    .scales = scales.HostRef(),
                                    .group = len,
                                    .out = cpu_out.HostRef(),
                                    .row_len = len,
                                    .col0 = col0});
    Dequantize(testing::CudaContext(), {.codes = codes.DeviceRef(),
                                        .scales = scales.DeviceRef(),
                                        .group = len,
                                        .out = out.DeviceRef(),
                                        .row_len = len,
                                        .col0 = col0});
    out.FromDevice();
    ExpectBytesEqual(cpu_out.host<uint8_t>(), out.host<uint8_t>(), rows * width * DTypeSize(dtype),
                     std::string("dequantize window ") + DTypeName(dtype));
  }
}

// The mean |w| is an f64 sum in another order than the CPU's; rounded to f32 it equals the CPU's
// unless the f64 sum lies within ~1e-16 relative of an f32 rounding boundary (about 1 in 10^8):
// the test fails loudly then rather than hiding it behind a tolerance.
TEST(TernarizeTwin, BitIdenticalIncludingInPlace) {
  DQT_REQUIRE_CUDA();
  for (DType dtype : {DType::kF32, DType::kBF16}) {
    for (const Sizes& s : kSizes) {
      for (bool in_place : {false, true}) {
        if (in_place && dtype != DType::kF32) continue;
        const std::string what = std::string(DTypeName(dtype)) + " n=" + std::to_string(s.n) +
                                 (in_place ? " in place" : "");
        TwinTensor w({s.n}), out({s.n}, dtype), m({1}), cpu_out({s.n}, dtype), cpu_m({1});
        FillFloats(w, 3, 0.02f);
        w.ToDevice();
        Ternarize(ExecContext::Cpu(), {w.HostRef(), cpu_out.HostRef(), cpu_m.HostRef()});
        Ternarize(testing::CudaContext(),
                  {w.DeviceRef(), in_place ? w.DeviceRef() : out.DeviceRef(), m.DeviceRef()});
        TwinTensor& result = in_place ? w : out;
        result.FromDevice();
        m.FromDevice();
        EXPECT_EQ(m.host<float>()[0], cpu_m.host<float>()[0]) << what;
        ExpectBytesEqual(cpu_out.host<uint8_t>(), result.host<uint8_t>(), s.n * DTypeSize(dtype),
                         "ternarize " + what);
      }
    }
  }
}

TEST(QuantizeToGridTwin, CodesBitIdentical) {
  DQT_REQUIRE_CUDA();
  for (QuantGrid grid : {QuantGrid::Ternary(), QuantGrid::Integer(3), QuantGrid::Integer(8)}) {
    for (const Sizes& s : kSizes) {
      TwinTensor w({s.n}), codes({s.n}, DType::kI8), cpu_codes({s.n}, DType::kI8);
      TwinTensor scales = Positive(s.n / s.group, 4);
      FillFloats(w, 5, 0.1f);
      // Values at or next to ties (w * s near k + 0.5): both twins must round them alike.
      for (int64_t i = 0; i < s.n; i += 7) {
        w.SetFloat(i, (static_cast<float>(i % 9) - 4.5f) / scales.host<float>()[i / s.group]);
      }
      w.ToDevice();
      scales.ToDevice();
      QuantizeToGrid(ExecContext::Cpu(),
                     {w.HostRef(), scales.HostRef(), s.group, grid, cpu_codes.HostRef()});
      QuantizeToGrid(testing::CudaContext(),
                     {w.DeviceRef(), scales.DeviceRef(), s.group, grid, codes.DeviceRef()});
      codes.FromDevice();
      ExpectBytesEqual(cpu_codes.host<int8_t>(), codes.host<int8_t>(), s.n,
                       std::string("quantize ") + grid.name() + " n=" + std::to_string(s.n));
    }
  }
}

TEST(ConvertTwin, BitIdentical) {
  DQT_REQUIRE_CUDA();
  struct Pair {
    DType src, dst;
  };
  for (const Pair& p : {Pair{DType::kF32, DType::kF32}, Pair{DType::kF32, DType::kBF16},
                        Pair{DType::kBF16, DType::kF32}, Pair{DType::kI8, DType::kF8E4M3}}) {
    for (int64_t n : {1, 3, 33, 1000, 256, 130 * 1000 + 7}) {
      TwinTensor src({n}, p.src), dst({n}, p.dst), cpu_dst({n}, p.dst);
      if (p.src == DType::kI8) {
        for (int64_t i = 0; i < n; ++i) src.host<int8_t>()[i] = static_cast<int8_t>(i - 128);
      } else {
        FillFloats(src, 6, 3.0f);
      }
      src.ToDevice();
      Convert(ExecContext::Cpu(), {src.HostRef(), cpu_dst.HostRef()});
      Convert(testing::CudaContext(), {src.DeviceRef(), dst.DeviceRef()});
      dst.FromDevice();
      ExpectBytesEqual(cpu_dst.host<uint8_t>(), dst.host<uint8_t>(), n * DTypeSize(p.dst),
                       std::string("convert ") + DTypeName(p.src) + " -> " + DTypeName(p.dst) +
                           " n=" + std::to_string(n));
    }
  }
}

}  // namespace
}  // namespace dqt
