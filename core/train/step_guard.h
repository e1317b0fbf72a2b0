// Catching a bad optimizer step before its update: a non-finite loss or gradient norm, or a loss
// so far above uniform guessing that the run has diverged, and naming where the bad values are.
#pragma once

#include <string>
#include <vector>

#include "core/model/llama_params.h"

namespace dqt {

// A loss (nats per token) above this has diverged: 10 x ln(vocab), ten times the loss of
// guessing uniformly. A healthy run starts near ln(vocab) and goes down; spikes of a few x
// ln(vocab) recover, while a diverged run climbs to 1e3..1e8 and then crawls through denormal
// arithmetic.
double DivergedLossThreshold(int vocab);

// Why a step with this (global) loss and gradient norm must not be applied, or "" when it may.
std::string BadStepReason(double loss, double grad_norm, int vocab);

// The first tensor of this rank holding a NaN or Inf: gradients first (in tensor order), then the
// weights (fp32 values, or the scales of code tensors), as `gradient of NAME (element I = V)`;
// "" when every value is finite. Copies each buffer to the host: for the error path only.
std::string FirstNonFiniteTensor(const LlamaParams& params);

// The first tensor whose squared gradient sum (one per tensor, in tensor order) is non-finite,
// as `gradient of NAME`, or "".
std::string FirstNonFiniteSquares(const LlamaParams& params, const std::vector<double>& squares);

}  // namespace dqt
