// Learning modules of a frozen model (ALGORITHMS.md 6, edge-popup after Kingetsu, Kobayashi and
// Suzuki 2021): per module and masked tensor, real scores s; the forward uses the weights
// m(s) * w with m(s) = 1 on the top-k fraction `keep` of each tensor's scores; the scores get the
// straight-through gradient dL/ds = dL/d(m w) * w. Module j minimises
//   L_j = LM loss on domain j  -  share * (1/K_j) sum_i m_ji o_ji,
// K_j = number of weights module j keeps, o_ji = fraction of the other modules (joint) or of the
// modules learned before j (sequential) that keep weight i: the sharing reward is the mean
// overlap of j's kept weights with the others'. Scores follow Adam. Masks apply to the stored
// weights: DQT codes (a masked weight is a zero code), fp32 values, or BitNet's latent values
// (whose absmean ternarization then sees the masked tensor). One process (no TP group).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/model/llama.h"
#include "core/modules/module_masks.h"

namespace dqt {

enum class ModuleSchedule { kJoint, kSequential };

struct ExtractConfig {
  double keep = 0.25;  // fraction of each masked tensor kept, in (0, 1]
  int steps = 300;     // score updates per module
  int batch = 8, seq = 32;
  float lr = 0.05f;  // Adam on the scores (betas 0.9, 0.999, eps 1e-8)
  float share = 0;   // weight of the sharing reward (nats per unit of mean overlap)
  ModuleSchedule schedule = ModuleSchedule::kSequential;
  uint64_t seed = 1;  // score init: normal(0, 1) keyed by (seed, module, tensor id)
};
[[nodiscard]] absl::Status ValidateExtractConfig(const ExtractConfig& config);

// Writes the next batch of domain `module` (batch * seq inputs and targets, host memory).
using DomainBatches = std::function<void(int module, int step, int32_t* inputs, int32_t* targets)>;
// Called after each score update with the module's masked LM loss (mean nats per token).
using ExtractLog = std::function<void(int module, int step, double loss)>;

// Learns one module per domain on `model` (whose weights are restored before returning). The
// scores, their moments and the frozen copies live on the model's device (ledger: optimizer for
// scores and moments, weights for the frozen copies).
[[nodiscard]] absl::StatusOr<std::vector<ModuleMasks>> ExtractModules(
    LlamaModel& model, const ExtractConfig& config, const std::vector<std::string>& domains,
    const DomainBatches& batches, const ExtractLog& log = nullptr);

// Baselines of the same keep fraction: masks from random scores (keyed by seed), or from weight
// magnitudes (the largest |w| of each tensor).
enum class BaselineMask { kRandom, kMagnitude };
ModuleMasks BaselineModule(LlamaModel& model, BaselineMask kind, double keep, uint64_t seed,
                           std::string domain);

}  // namespace dqt
