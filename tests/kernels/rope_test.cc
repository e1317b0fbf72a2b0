// RoPE: the CPU twin's inverse rotation is its gradient (finite differences) and preserves norms;
// the CUDA twin equals the CPU twin bit for bit (f32) or its f32 result rounded to bf16.
#include "kernels/rope.h"

#include <random>
#include <string>
#include <vector>

#include "kernels/cpu/rope.h"
#include "tests/kernels/gradcheck.h"
#include "tests/testing/twin.h"

namespace dqt {
namespace {

using testing::ExpectGradientMatches;
using testing::RandomVector;
using testing::TwinTensor;
using testing::WeightedSum;

TEST(Rope, GradientAndNormPreserved) {
  const int64_t batch = 2;
  const int seq = 5, heads = 3, head_dim = 6, context = 9;
  std::vector<double> table(2 * context * (head_dim / 2));
  RopeTable(context, head_dim, 10000.0, table.data());
  std::vector<double> x = RandomVector(batch * seq * heads * head_dim, 7);
  const std::vector<double> w = RandomVector(x.size(), 8);
  auto loss = [&] {
    std::vector<double> y = x;
    cpu::RopeForward(y.data(), batch, seq, heads, head_dim, context, table.data());
    return WeightedSum(y, w);
  };
  std::vector<double> dx = w;
  cpu::RopeBackward(dx.data(), batch, seq, heads, head_dim, context, table.data());
  ExpectGradientMatches(x, loss, dx, "rope dx");

  std::vector<double> y = x;
  cpu::RopeForward(y.data(), batch, seq, heads, head_dim, context, table.data());
  double nx = 0, ny = 0;
  for (size_t i = 0; i < x.size(); ++i) nx += x[i] * x[i], ny += y[i] * y[i];
  EXPECT_NEAR(nx, ny, 1e-9 * nx);
  // Position 0 is the identity rotation.
  for (int i = 0; i < heads * head_dim; ++i) EXPECT_DOUBLE_EQ(y[i], x[i]);
}

// Both twins evaluate a c - (sign b) s and b c + (sign a) s with each product rounded in fp32 (the
// CPU is built with -ffp-contract=off, CUDA uses __fmul_rn / __fadd_rn), so f32 agrees exactly.
TEST(RopeTwin, ForwardAndInverseMatchCpuExactly) {
  DQT_REQUIRE_CUDA();
  const ExecContext cpu = testing::CpuContext(), gpu = testing::CudaContext();
  struct Shape {
    int64_t batch, seq, heads, head_dim, context;
  };
  for (DType dtype : {DType::kF32, DType::kBF16}) {
    for (const Shape& s : {Shape{1, 1, 1, 2, 1}, Shape{2, 7, 3, 6, 9}, Shape{1, 130, 5, 66, 130},
                           Shape{3, 33, 2, 128, 512}}) {
      for (RopeDirection dir : {RopeDirection::kForward, RopeDirection::kInverse}) {
        const std::string what = std::string(DTypeName(dtype)) + " seq=" + std::to_string(s.seq) +
                                 " head_dim=" + std::to_string(s.head_dim) +
                                 (dir == RopeDirection::kForward ? " forward" : " inverse");
        const int64_t half = s.head_dim / 2;
        TwinTensor x({s.batch, s.seq, s.heads, s.head_dim}, dtype), table({2, s.context, half});
        RopeTable(static_cast<int>(s.context), static_cast<int>(s.head_dim), 10000.0,
                  table.host<float>());
        std::mt19937 rng(11);
        std::normal_distribution<float> dist(0.0f, 1.0f);
        for (int64_t i = 0; i < x.numel(); ++i) x.SetFloat(i, dist(rng));
        x.ToDevice();
        table.ToDevice();

        std::vector<float> want = x.Floats();
        Rope(cpu, {RefOf(want.data(), Device::kCpu, {s.batch, s.seq, s.heads, s.head_dim}),
                   table.HostRef(), dir});
        Rope(gpu, {x.DeviceRef(), table.DeviceRef(), dir});
        x.FromDevice();
        if (dtype == DType::kBF16) {
          for (float& v : want) v = Bf16ToFloat(FloatToBf16(v));
        }
        testing::ExpectAllNear(want, x.Floats(), 0, 0, what);
      }
    }
  }
}

}  // namespace
}  // namespace dqt
