// Temperature / top-k sampling over one row of logits (see sampling.h for the exact contract).
#include "launch/sampling.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

#include "core/base/philox.h"

namespace dqt {
namespace {

// Non-finite logits rank below every finite one.
float Key(float logit) {
  return std::isfinite(logit) ? logit : -std::numeric_limits<float>::infinity();
}

}  // namespace

int32_t SampleToken(std::span<const float> logits, const SamplingOptions& options, float uniform) {
  const int64_t vocab = static_cast<int64_t>(logits.size());
  if (vocab == 0) return 0;
  // Ordered "better than": larger logit, then smaller id.
  auto better = [&](int32_t a, int32_t b) {
    const float ka = Key(logits[a]), kb = Key(logits[b]);
    return ka != kb ? ka > kb : a < b;
  };
  if (options.temperature <= 0 || options.top_k == 1) {
    int32_t best = 0;
    for (int32_t i = 1; i < vocab; ++i) {
      if (better(i, best)) best = i;
    }
    return best;
  }
  const int64_t k = options.top_k <= 0 ? vocab : std::min<int64_t>(options.top_k, vocab);
  std::vector<int32_t> ids(vocab);
  std::iota(ids.begin(), ids.end(), 0);
  std::partial_sort(ids.begin(), ids.begin() + k, ids.end(), better);
  const double top = Key(logits[ids[0]]);
  if (!std::isfinite(top)) return ids[0];
  std::vector<double> weights(k);
  double sum = 0;
  for (int64_t i = 0; i < k; ++i) {
    weights[i] = std::exp((static_cast<double>(Key(logits[ids[i]])) - top) / options.temperature);
    sum += weights[i];
  }
  const double target = static_cast<double>(uniform) * sum;
  double cumulative = 0;
  int64_t last_positive = 0;
  for (int64_t i = 0; i < k; ++i) {
    if (weights[i] <= 0) continue;
    last_positive = i;
    cumulative += weights[i];
    if (cumulative > target) return ids[i];
  }
  return ids[last_positive];  // only reachable through rounding when uniform is ~1
}

float SamplerUniform(uint64_t seed, uint32_t index) {
  const Philox4x32 bits = RngBlock(MakeRngKey(seed, 0), RngPurpose::kSampler, index, 0);
  return UniformFromBits(bits.v[0]);
}

}  // namespace dqt
