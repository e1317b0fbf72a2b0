// Bad-step detection for Trainer (train.on_nonfinite).
#include "core/train/step_guard.h"

#include <cmath>

#include "absl/strings/str_format.h"
#include "core/base/device_memory.h"

namespace dqt {
namespace {

constexpr double kDivergedFactor = 10;

template <typename T>
std::vector<T> HostCopy(const Buffer<T>& b, const LlamaParams& params) {
  std::vector<T> out(b.size());
  CopyBytes(out.data(), Device::kCpu, b.data(), b.device(), b.bytes(), params.context().stream());
  return out;
}

// "" or "KIND of NAME (element I = V)" for the first non-finite of data[begin, begin + n).
std::string FirstIn(const float* data, int64_t n, const char* kind, const std::string& name) {
  for (int64_t i = 0; i < n; ++i) {
    if (!std::isfinite(data[i])) {
      return absl::StrFormat("%s of %s (element %d = %g)", kind, name, i, data[i]);
    }
  }
  return "";
}

}  // namespace

double DivergedLossThreshold(int vocab) { return kDivergedFactor * std::log(double(vocab)); }

std::string BadStepReason(double loss, double grad_norm, int vocab) {
  if (!std::isfinite(loss) || !std::isfinite(grad_norm)) {
    return absl::StrFormat("non-finite loss %g or gradient norm %g", loss, grad_norm);
  }
  const double threshold = DivergedLossThreshold(vocab);
  if (loss > threshold) {
    return absl::StrFormat(
        "diverged: loss %g nats/token is above %.4g (10 x ln(vocab %d), uniform guessing is %.4g)",
        loss, threshold, vocab, threshold / kDivergedFactor);
  }
  return "";
}

std::string FirstNonFiniteTensor(const LlamaParams& params) {
  if (params.grads().size() > 0) {
    const std::vector<float> grads = HostCopy(params.grads(), params);
    for (const ParamTensor& t : params.tensors()) {
      std::string found = FirstIn(grads.data() + t.offset, t.numel, "gradient", t.name);
      if (!found.empty()) return found;
    }
  }
  const std::vector<float> values = HostCopy(params.values(), params);
  for (const ParamTensor& t : params.tensors()) {
    std::string found;
    if (t.value_offset >= 0) {
      found = FirstIn(values.data() + t.value_offset, t.numel, "weight", t.name);
    } else {
      for (int64_t row = 0; row < t.scale_count && found.empty(); ++row) {
        const float s = params.scale(t, row);
        if (!std::isfinite(s)) found = absl::StrFormat("scale of %s (row %d = %g)", t.name, row, s);
      }
    }
    if (!found.empty()) return found;
  }
  return "";
}

std::string FirstNonFiniteSquares(const LlamaParams& params, const std::vector<double>& squares) {
  for (const ParamTensor& t : params.tensors()) {
    if (t.id < squares.size() && !std::isfinite(squares[t.id])) return "gradient of " + t.name;
  }
  return "";
}

}  // namespace dqt
