// Residual add: exact on the CPU, and the CUDA twin equal to it bit for bit (f32) or to its f32
// sum rounded once to bf16.
#include "kernels/residual.h"

#include <random>
#include <string>
#include <vector>

#include "tests/testing/twin.h"

namespace dqt {
namespace {

using testing::TwinTensor;

TEST(ResidualAdd, AddsInPlace) {
  std::vector<float> dst = {1.0f, -2.0f, 0.5f}, src = {0.25f, 2.0f, -3.0f};
  ResidualAdd(testing::CpuContext(),
              {RefOf(dst.data(), Device::kCpu, {3}), RefOf(src.data(), Device::kCpu, {3})});
  EXPECT_EQ(dst, (std::vector<float>{1.25f, 0.0f, -2.5f}));
}

TEST(ResidualAddTwin, MatchesCpuExactly) {
  DQT_REQUIRE_CUDA();
  for (DType dtype : {DType::kF32, DType::kBF16}) {
    for (int64_t n : {1, 3, 33, 1000, 130 * 1000 + 1}) {
      TwinTensor dst({n}, dtype), src({n}, dtype);
      std::mt19937 rng(5);
      std::normal_distribution<float> dist(0.0f, 4.0f);
      for (int64_t i = 0; i < n; ++i) dst.SetFloat(i, dist(rng)), src.SetFloat(i, dist(rng));
      dst.ToDevice();
      src.ToDevice();
      std::vector<float> want = dst.Floats(), s = src.Floats();
      ResidualAdd(testing::CpuContext(),
                  {RefOf(want.data(), Device::kCpu, {n}), RefOf(s.data(), Device::kCpu, {n})});
      ResidualAdd(testing::CudaContext(), {dst.DeviceRef(), src.DeviceRef()});
      dst.FromDevice();
      if (dtype == DType::kBF16) {
        for (float& v : want) v = Bf16ToFloat(FloatToBf16(v));
      }
      testing::ExpectAllNear(want, dst.Floats(), 0, 0,
                             std::string(DTypeName(dtype)) + " n=" + std::to_string(n));
    }
  }
}

}  // namespace
}  // namespace dqt
