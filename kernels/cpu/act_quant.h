// CPU reference math on raw host pointers (templates for the double-precision gradient checks);
// the op itself (args, dispatcher) is kernels/act_quant.h.
// Per-token absmax int8 activation quantization (ALGORITHMS.md 2), as fake quantization:
// s = 127 / max(max_j |x_j|, 1e-5); x <- clamp(round(x * s), -128, 127) / s, row by row.
// The backward is the straight-through estimator (identity), so there is no backward kernel.
#pragma once

#include <cstdint>

#include "kernels/internal.h"  // IWYU pragma: keep

namespace dqt::cpu {

// In place on x (rows, cols).
void ActQuantInt8(float* x, int64_t rows, int cols, bool fp16_scale);

// The two halves of ActQuantInt8, for inputs sharded by columns across tensor-parallel ranks:
// each rank takes its rows' absmax, the ranks MAX-reduce them, and every rank quantizes its
// columns with the row's global absmax (the same result as one rank holding whole rows).
void RowAbsMax(const float* x, int64_t rows, int cols, float* absmax);
void ActQuantInt8WithAbsMax(float* x, int64_t rows, int cols, const float* absmax, bool fp16_scale);

}  // namespace dqt::cpu
