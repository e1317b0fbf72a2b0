// CPU twin of per-token int8 fake quantization.
#include "kernels/cpu/act_quant.h"

#include <algorithm>
#include <cmath>

#include "core/base/parallel.h"
#include "core/base/tensor_ref.h"
#include "kernels/act_quant.h"
#include "kernels/fp8.h"

namespace dqt::cpu {
namespace {

float AbsMax(const float* row, int cols) {
  float amax = 0;
  for (int j = 0; j < cols; ++j) amax = std::max(amax, std::fabs(row[j]));
  return amax;
}

void QuantizeRow(float* row, int cols, float absmax, bool fp16_scale) {
  const float s = 127.0f / std::max(absmax, 1e-5f);
  const float d = fp16_scale ? Fp16Round(absmax / 127.0f) : 0.0f;
  for (int j = 0; j < cols; ++j) {
    const float code = std::clamp(std::nearbyint(row[j] * s), -128.0f, 127.0f);
    row[j] = fp16_scale ? code * d : code / s;
  }
}

}  // namespace

void RowAbsMax(const float* x, int64_t rows, int cols, float* absmax) {
  ParallelFor(
      rows, [&](int64_t r) { absmax[r] = AbsMax(x + r * cols, cols); }, 16);
}

void ActQuantInt8WithAbsMax(float* x, int64_t rows, int cols, const float* absmax,
                            bool fp16_scale) {
  ParallelFor(
      rows, [&](int64_t r) { QuantizeRow(x + r * cols, cols, absmax[r], fp16_scale); }, 16);
}

void ActQuantInt8(float* x, int64_t rows, int cols, bool fp16_scale) {
  ParallelFor(
      rows,
      [&](int64_t r) {
        float* row = x + r * cols;
        QuantizeRow(row, cols, AbsMax(row, cols), fp16_scale);
      },
      16);
}

}  // namespace dqt::cpu

namespace dqt {

void RowAbsMaxRef(const RowAbsMaxArgs& a) {
  cpu::RowAbsMax(a.x.as<float>(), a.x.dim(0), static_cast<int>(a.x.dim(1)), a.absmax.as<float>());
}

void ActQuantRef(const ActQuantArgs& a) {
  const int cols = static_cast<int>(a.x.dim(1));
  if (a.absmax.empty()) {
    cpu::ActQuantInt8(a.x.as<float>(), a.x.dim(0), cols, a.fp16_scale);
  } else {
    cpu::ActQuantInt8WithAbsMax(a.x.as<float>(), a.x.dim(0), cols, a.absmax.as<float>(),
                                a.fp16_scale);
  }
}

void ActQuantCodesRef(const ActQuantCodesArgs& a) {
  const int64_t rows = a.x.dim(0), cols = a.x.dim(1);
  const float* x = a.x.as<float>();
  float* scale = a.scale.as<float>();
  const bool int8 = a.codes.dtype == DType::kI8;
  ParallelFor(
      rows,
      [&](int64_t r) {
        const float* row = x + r * cols;
        float amax = 0;
        if (a.absmax.empty()) {
          for (int64_t j = 0; j < cols; ++j) amax = std::max(amax, std::fabs(row[j]));
        } else {
          amax = a.absmax.as<float>()[r];
        }
        const float s = (int8 ? 127.0f : kE4m3Max) / std::max(amax, 1e-5f);
        scale[r] = s;
        for (int64_t j = 0; j < cols; ++j) {
          if (int8) {
            a.codes.as<int8_t>()[r * cols + j] =
                static_cast<int8_t>(std::clamp(std::nearbyint(row[j] * s), -128.0f, 127.0f));
          } else {
            a.codes.as<Fp8E4M3>()[r * cols + j] = FloatToE4m3(row[j] * s);
          }
        }
      },
      16);
}

}  // namespace dqt
