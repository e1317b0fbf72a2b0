// CPU twins of the weight ops (dequantize, ternarize, quantize to the grid, convert).
#include "kernels/weights.h"

#include <algorithm>
#include <cmath>

#include "core/base/parallel.h"
#include "kernels/fp8.h"
#include "kernels/moments.h"  // FloatToBf16, Bf16ToFloat

namespace dqt {
namespace {

// Writes value i of a float computation into `out` (f32 or bf16).
template <typename F>
void WriteFloats(const TensorRef& out, const char* op, F&& value) {
  if (out.dtype == DType::kF32) {
    float* o = out.as<float>();
    ParallelFor(
        out.numel(), [&](int64_t i) { o[i] = value(i); }, 4096);
  } else {
    DQT_CHECK(out.dtype == DType::kBF16) << op << ": out must be f32 or bf16";
    Bf16* o = out.as<Bf16>();
    ParallelFor(
        out.numel(), [&](int64_t i) { o[i] = Bf16{FloatToBf16(value(i))}; }, 4096);
  }
}

}  // namespace

void DequantizeRef(const DequantizeArgs& a) {
  const int8_t* codes = a.codes.as<int8_t>();
  const float* s = a.scales.as<float>();
  const int64_t group = a.group;
  if (a.row_len == 0) {
    WriteFloats(a.out, "Dequantize",
                [&](int64_t i) { return static_cast<float>(codes[i]) / s[i / group]; });
    return;
  }
  const int64_t len = a.row_len, width = a.out.numel() / (a.codes.numel() / len), col0 = a.col0;
  WriteFloats(a.out, "Dequantize", [&](int64_t i) {
    const int64_t src = i / width * len + col0 + i % width;
    return static_cast<float>(codes[src]) / s[src / group];
  });
}

void TernarizeRef(const TernarizeArgs& a) {
  const float* w = a.w.as<float>();
  const int64_t n = a.w.numel();
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += std::fabs(w[i]);
  const float m = static_cast<float>(std::max(sum / n, 1e-5));
  a.absmean.as<float>()[0] = m;
  WriteFloats(a.out, "Ternarize",
              [&](int64_t i) { return std::clamp(std::nearbyint(w[i] / m), -1.0f, 1.0f) * m; });
}

void QuantizeToGridRef(const QuantizeToGridArgs& a) {
  const float* w = a.w.as<float>();
  const float* s = a.scales.as<float>();
  int8_t* codes = a.codes.as<int8_t>();
  const float qmin = static_cast<float>(a.grid.qmin()), qmax = static_cast<float>(a.grid.qmax());
  const int64_t group = a.group;
  ParallelFor(
      a.w.numel(),
      [&](int64_t i) {
        codes[i] = static_cast<int8_t>(std::clamp(std::nearbyint(w[i] * s[i / group]), qmin, qmax));
      },
      4096);
}

void ConvertRef(const ConvertArgs& a) {
  const int64_t n = a.src.numel();
  if (a.src.dtype == DType::kF32 && a.dst.dtype == DType::kF32) {
    std::copy_n(a.src.as<float>(), n, a.dst.as<float>());
  } else if (a.src.dtype == DType::kF32 && a.dst.dtype == DType::kBF16) {
    const float* s = a.src.as<float>();
    Bf16* d = a.dst.as<Bf16>();
    ParallelFor(
        n, [&](int64_t i) { d[i] = Bf16{FloatToBf16(s[i])}; }, 4096);
  } else if (a.src.dtype == DType::kBF16 && a.dst.dtype == DType::kF32) {
    const Bf16* s = a.src.as<Bf16>();
    float* d = a.dst.as<float>();
    ParallelFor(
        n, [&](int64_t i) { d[i] = Bf16ToFloat(s[i].bits); }, 4096);
  } else if (a.src.dtype == DType::kI8 && a.dst.dtype == DType::kF8E4M3) {
    const int8_t* s = a.src.as<int8_t>();
    Fp8E4M3* d = a.dst.as<Fp8E4M3>();
    ParallelFor(
        n, [&](int64_t i) { d[i] = FloatToE4m3(static_cast<float>(s[i])); }, 4096);
  } else {
    DQT_CHECK(false) << "Convert: " << DTypeName(a.src.dtype) << " -> " << DTypeName(a.dst.dtype)
                     << " is not supported";
  }
}

}  // namespace dqt
