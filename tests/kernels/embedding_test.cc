// Embedding: the CPU twin's gradient by finite differences, and the CUDA twin against the CPU
// twin on awkward shapes with repeated ids, f32 and bf16 activations.
#include "kernels/embedding.h"

#include <random>
#include <string>
#include <vector>

#include "kernels/cpu/embedding.h"
#include "tests/kernels/gradcheck.h"
#include "tests/testing/twin.h"

namespace dqt {
namespace {

using testing::ExpectGradientMatches;
using testing::RandomVector;
using testing::TwinTensor;
using testing::WeightedSum;

TEST(Embedding, GradientWithRepeatedIds) {
  const int vocab = 7, d = 5;
  const std::vector<int32_t> ids = {3, 0, 6, 3, 3, 1, 6, 2, 0, 5, 4};
  const int64_t n = ids.size();
  std::vector<double> table = RandomVector(vocab * d, 1);
  const std::vector<double> w = RandomVector(n * d, 2);
  std::vector<double> out(n * d);
  auto loss = [&] {
    cpu::EmbeddingForward(ids.data(), n, table.data(), d, out.data());
    return WeightedSum(out, w);
  };
  std::vector<double> dtable(vocab * d, 0.0);
  cpu::EmbeddingBackward(ids.data(), n, w.data(), d, dtable.data());
  ExpectGradientMatches(table, loss, dtable, "embedding dtable");
}

void FillNormal(TwinTensor& t, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  for (int64_t i = 0; i < t.numel(); ++i) t.SetFloat(i, dist(rng));
}

std::vector<float> RoundedTo(DType dtype, std::vector<float> v) {
  if (dtype == DType::kBF16) {
    for (float& x : v) x = Bf16ToFloat(FloatToBf16(x));
  }
  return v;
}

TEST(EmbeddingTwin, ForwardAndBackwardMatchCpu) {
  DQT_REQUIRE_CUDA();
  const ExecContext cpu = testing::CpuContext(), gpu = testing::CudaContext();
  struct Shape {
    int64_t n, vocab, d;
  };
  for (DType dtype : {DType::kF32, DType::kBF16}) {
    for (const Shape& s : {Shape{1, 1, 1}, Shape{7, 5, 3}, Shape{130, 97, 33}, Shape{130, 50, 1000},
                           Shape{1000, 3, 7}}) {
      const std::string what = std::string(DTypeName(dtype)) + " n=" + std::to_string(s.n) +
                               " vocab=" + std::to_string(s.vocab) + " d=" + std::to_string(s.d);
      TwinTensor ids({s.n}, DType::kI32), table({s.vocab, s.d}), out({s.n, s.d}, dtype);
      TwinTensor dout({s.n, s.d}, dtype), dtable({s.vocab, s.d});
      for (int64_t i = 0; i < s.n; ++i) ids.host<int32_t>()[i] = (i * 7 + 3) % s.vocab;
      FillNormal(table, 1);
      FillNormal(dout, 2);
      FillNormal(dtable, 3);  // the gradient accumulates onto what is there
      for (TwinTensor* t : {&ids, &table, &dout, &dtable}) t->ToDevice();

      std::vector<float> out_cpu(s.n * s.d), dout_cpu = dout.Floats(), dtable_cpu = dtable.Floats();
      EmbeddingForward(
          cpu, {ids.HostRef(), table.HostRef(), RefOf(out_cpu.data(), Device::kCpu, {s.n, s.d})});
      EmbeddingForward(gpu, {ids.DeviceRef(), table.DeviceRef(), out.DeviceRef()});
      out.FromDevice();
      // A gather: exact (bf16: the table value rounded once to nearest even).
      testing::ExpectAllNear(RoundedTo(dtype, out_cpu), out.Floats(), 0, 0, what + " out");

      EmbeddingBackward(cpu, {ids.HostRef(), RefOf(dout_cpu.data(), Device::kCpu, {s.n, s.d}),
                              RefOf(dtable_cpu.data(), Device::kCpu, {s.vocab, s.d})});
      EmbeddingBackward(gpu, {ids.DeviceRef(), dout.DeviceRef(), dtable.DeviceRef()});
      dtable.FromDevice();
      // A row hit k times sums k + 1 O(1) terms in another order (atomicAdd): at most k fp32
      // roundings of partial sums of size <= ~3 sqrt(k); k <= 334 here gives < 1e-4.
      testing::ExpectAllNear(dtable_cpu, dtable.Floats(), 1e-6, 1e-4, what + " dtable");
    }
  }
}

}  // namespace
}  // namespace dqt
