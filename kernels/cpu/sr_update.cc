// CPU twin of the DQT update: blocks of kMomentBlock elements in parallel; per element, the
// arithmetic of DqtTarget and StochasticRound, so the codes match the CUDA twin bit for bit.
#include "kernels/sr_update.h"

#include "core/base/check.h"

namespace dqt {

DqtUpdateStats DqtUpdateRef(const DqtUpdateArgs& args) {
  DQT_CHECK_OK(ValidateDqtUpdateArgs(args));
  const DqtUpdateConstants k = MakeDqtUpdateConstants(args);
  const int64_t blocks = args.moments.blocks();
  const QuantGrid grid = args.grid;
  const int qmin = grid.qmin(), qmax = grid.qmax();
  int64_t changed = 0, zeros = 0, at_qmin = 0, at_qmax = 0, nonfinite = 0;

#pragma omp parallel for schedule(static) if (blocks > 1) \
    reduction(+ : changed, zeros, at_qmin, at_qmax, nonfinite)
  for (int64_t b = 0; b < blocks; ++b) {
    const int64_t first = b * kMomentBlock;
    const int count = args.moments.BlockSize(b);
    int8_t* codes = args.codes + first;
    const float* g = args.grad + first;
    float m[kMomentBlock], v[kMomentBlock], y[kMomentBlock];
    LoadMomentBlock(args.moments, b, m, v);

    // Branch-free so it vectorizes; a non-finite gradient keeps the loaded moments.
    for (int i = 0; i < count; ++i) {
      float mi = m[i], vi = v[i];
      y[i] = DqtTarget(codes[i], g[i], &mi, &vi, k);
      const bool finite = IsFiniteFloat(g[i]);
      m[i] = finite ? mi : m[i];
      v[i] = finite ? vi : v[i];
    }

    // The SR uniforms: one Philox block per four consecutive global indices; element i reads
    // u[lead + i], where lead = gi0 % 4 when the block does not start on a multiple of 4.
    const uint64_t gi0 = args.global_offset + static_cast<uint64_t>(first);
    const int lead = static_cast<int>(gi0 & 3);
    const int philox_blocks = (lead + count + 3) / 4;
    float u[kMomentBlock + 4];
    for (int j = 0; j < philox_blocks; ++j) {
      const Philox4x32 r = RngBlock(k.key, RngPurpose::kStochasticRounding, k.step, (gi0 >> 2) + j);
      for (int w = 0; w < 4; ++w) u[4 * j + w] = UniformFromBits(r.v[w]);
    }

    int64_t block_changed = 0, block_zeros = 0, block_qmin = 0, block_qmax = 0, skipped = 0;
    for (int i = 0; i < count; ++i) {
      const int8_t old = codes[i];
      const bool finite = IsFiniteFloat(g[i]);
      const int8_t rounded = StochasticRound(y[i], u[lead + i], grid);
      const int8_t code = finite ? rounded : old;
      codes[i] = code;
      skipped += !finite;
      block_changed += code != old;
      block_zeros += code == 0;
      block_qmin += code == qmin;
      block_qmax += code == qmax;
    }
    changed += block_changed;
    zeros += block_zeros;
    at_qmin += block_qmin;
    at_qmax += block_qmax;
    nonfinite += skipped;
    StoreMomentBlock(args.moments, b, m, v);
  }
  return DqtUpdateStats{changed, zeros, at_qmin, at_qmax, nonfinite};
}

}  // namespace dqt
