// SwiGLU: the CPU twin's gradients by finite differences, and the CUDA twin against it over odd
// sizes, f32 and bf16 activations.
#include "kernels/swiglu.h"

#include <random>
#include <string>
#include <vector>

#include "kernels/cpu/swiglu.h"
#include "tests/kernels/gradcheck.h"
#include "tests/testing/twin.h"

namespace dqt {
namespace {

using testing::ExpectAllNear;
using testing::ExpectGradientMatches;
using testing::RandomVector;
using testing::TwinTensor;
using testing::WeightedSum;

TEST(SwiGlu, Gradient) {
  const int64_t n = 37;
  std::vector<double> gate = RandomVector(n, 9, 2.0), up = RandomVector(n, 10);
  const std::vector<double> w = RandomVector(n, 11);
  std::vector<double> h(n);
  auto loss = [&] {
    cpu::SwiGluForward(gate.data(), up.data(), n, h.data());
    return WeightedSum(h, w);
  };
  std::vector<double> dgate(n), dup(n);
  cpu::SwiGluBackward(gate.data(), up.data(), w.data(), n, dgate.data(), dup.data());
  ExpectGradientMatches(gate, loss, dgate, "swiglu dgate");
  ExpectGradientMatches(up, loss, dup, "swiglu dup");
}

void FillNormal(TwinTensor& t, uint32_t seed, float std) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, std);
  for (int64_t i = 0; i < t.numel(); ++i) t.SetFloat(i, dist(rng));
}

// Tolerances: CUDA's expf is within 2 ulp of glibc's expf and nvcc may fuse 1 + g (1 - s) into an
// FMA, so f32 results agree to a few fp32 ulps (rel 1e-5) plus 1e-6 absolute where
// 1 + g (1 - s) cancels (g near -1.28). bf16: CUDA rounds its fp32 value once, half a bf16 ulp
// (2^-9 relative) from the CPU's f32 value: rel 4e-3.
TEST(SwiGluTwin, ForwardAndBackwardMatchCpu) {
  DQT_REQUIRE_CUDA();
  const ExecContext cpu = testing::CpuContext(), gpu = testing::CudaContext();
  for (DType dtype : {DType::kF32, DType::kBF16}) {
    const double rel = dtype == DType::kBF16 ? 4e-3 : 1e-5;
    for (int64_t n : {1, 3, 33, 1000, 130 * 33, 1 << 20}) {
      const std::string what = std::string(DTypeName(dtype)) + " n=" + std::to_string(n);
      TwinTensor gate({n}, dtype), up({n}, dtype), dh({n}, dtype);
      TwinTensor h({n}, dtype), dgate({n}, dtype), dup({n}, dtype);
      FillNormal(gate, 1, 3.0f);
      FillNormal(up, 2, 1.0f);
      FillNormal(dh, 3, 1.0f);
      for (TwinTensor* t : {&gate, &up, &dh}) t->ToDevice();

      std::vector<float> g = gate.Floats(), u = up.Floats(), d = dh.Floats();
      std::vector<float> hc(n), dgc(n), duc(n);
      auto view = [](std::vector<float>& v) {
        return RefOf(v.data(), Device::kCpu, {static_cast<int64_t>(v.size())});
      };
      SwiGluForward(cpu, {view(g), view(u), view(hc)});
      SwiGluBackward(cpu, {view(g), view(u), view(d), view(dgc), view(duc)});
      SwiGluForward(gpu, {gate.DeviceRef(), up.DeviceRef(), h.DeviceRef()});
      SwiGluBackward(gpu, {gate.DeviceRef(), up.DeviceRef(), dh.DeviceRef(), dgate.DeviceRef(),
                           dup.DeviceRef()});
      for (TwinTensor* t : {&h, &dgate, &dup}) t->FromDevice();
      ExpectAllNear(hc, h.Floats(), rel, 1e-6, what + " h");
      ExpectAllNear(dgc, dgate.Floats(), rel, 1e-6, what + " dgate");
      ExpectAllNear(duc, dup.Floats(), rel, 1e-6, what + " dup");
    }
  }
}

}  // namespace
}  // namespace dqt
