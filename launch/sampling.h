// Next-token sampling for dqt_generate: temperature, top-k, and inverse-CDF selection driven by
// one uniform number, so a (seed, token index) pair fixes the choice on any machine.
#pragma once

#include <cstdint>
#include <span>

namespace dqt {

struct SamplingOptions {
  double temperature = 0.8;  // 0 = greedy (argmax); otherwise softmax(logits / temperature)
  int top_k = 40;            // keep the k largest logits; <= 0 or >= vocab keeps all
};

// Picks a token id from `logits` (vocab entries, finite). Candidates are ordered by logit,
// larger first, ties by smaller id; with temperature 0 (or top_k 1) the first one is returned
// and `uniform` is unused. Otherwise the candidates' probabilities p_i proportional to exp((l_i -
// l_max) / T) are accumulated in that order (in double) and the first i with cumsum_i > uniform *
// sum wins. `uniform` must lie in [0, 1). Non-finite logits count as -infinity (never chosen unless
// all are).
int32_t SampleToken(std::span<const float> logits, const SamplingOptions& options, float uniform);

// The uniform draw for the token generated at `index` (0 for the first new token) under
// `seed`: Philox stream (seed, id 0), purpose kSampler, step = index.
float SamplerUniform(uint64_t seed, uint32_t index);

}  // namespace dqt
