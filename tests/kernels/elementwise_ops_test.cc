// Finite-difference checks of embedding, RMSNorm, RoPE, SwiGLU and linear on awkward shapes.
#include <vector>

#include "kernels/cpu/embedding.h"
#include "kernels/cpu/linear.h"
#include "kernels/cpu/rmsnorm.h"
#include "kernels/cpu/rope.h"
#include "kernels/cpu/swiglu.h"
#include "tests/kernels/gradcheck.h"

namespace dqt {
namespace {
using namespace ::dqt::cpu;  // NOLINT: the reference math under test

using testing::ExpectGradientMatches;
using testing::RandomVector;
using testing::WeightedSum;

TEST(Embedding, GradientWithRepeatedIds) {
  const int vocab = 7, d = 5;
  const std::vector<int32_t> ids = {3, 0, 6, 3, 3, 1, 6, 2, 0, 5, 4};
  const int64_t n = ids.size();
  std::vector<double> table = RandomVector(vocab * d, 1);
  const std::vector<double> w = RandomVector(n * d, 2);
  std::vector<double> out(n * d);
  auto loss = [&] {
    EmbeddingForward(ids.data(), n, table.data(), d, out.data());
    return WeightedSum(out, w);
  };
  std::vector<double> dtable(vocab * d, 0.0);
  EmbeddingBackward(ids.data(), n, w.data(), d, dtable.data());
  ExpectGradientMatches(table, loss, dtable, "embedding dtable");
}

TEST(RmsNorm, GradientOddWidth) {
  for (int d : {1, 13, 67}) {
    const int64_t rows = 3;
    std::vector<double> x = RandomVector(rows * d, 3), gain = RandomVector(d, 4);
    const std::vector<double> w = RandomVector(rows * d, 5);
    std::vector<double> y(rows * d), rstd(rows);
    auto loss = [&] {
      RmsNormForward(x.data(), gain.data(), rows, d, 1e-5, y.data(), rstd.data());
      return WeightedSum(y, w);
    };
    loss();
    std::vector<double> dx(rows * d), dgain(d, 0.0);
    RmsNormBackward(x.data(), gain.data(), rstd.data(), w.data(), rows, d, dx.data(), dgain.data());
    ExpectGradientMatches(x, loss, dx, "rmsnorm dx d=" + std::to_string(d));
    ExpectGradientMatches(gain, loss, dgain, "rmsnorm dgain d=" + std::to_string(d));
  }
}

TEST(RmsNorm, UnitGainGivesUnitRms) {
  const int d = 37;
  std::vector<double> x = RandomVector(d, 6, 3.0), gain(d, 1.0), y(d), rstd(1);
  RmsNormForward(x.data(), gain.data(), 1, d, 0.0, y.data(), rstd.data());
  double ss = 0;
  for (double v : y) ss += v * v;
  EXPECT_NEAR(ss / d, 1.0, 1e-12);
}

TEST(Rope, GradientAndNormPreserved) {
  const int64_t batch = 2;
  const int seq = 5, heads = 3, head_dim = 6, context = 9;
  std::vector<double> table(2 * context * (head_dim / 2));
  RopeTable(context, head_dim, 10000.0, table.data());
  std::vector<double> x = RandomVector(batch * seq * heads * head_dim, 7);
  const std::vector<double> w = RandomVector(x.size(), 8);
  auto loss = [&] {
    std::vector<double> y = x;
    RopeForward(y.data(), batch, seq, heads, head_dim, context, table.data());
    return WeightedSum(y, w);
  };
  std::vector<double> dx = w;
  RopeBackward(dx.data(), batch, seq, heads, head_dim, context, table.data());
  ExpectGradientMatches(x, loss, dx, "rope dx");

  std::vector<double> y = x;
  RopeForward(y.data(), batch, seq, heads, head_dim, context, table.data());
  double nx = 0, ny = 0;
  for (size_t i = 0; i < x.size(); ++i) nx += x[i] * x[i], ny += y[i] * y[i];
  EXPECT_NEAR(nx, ny, 1e-9 * nx);
  // Position 0 is the identity rotation.
  for (int i = 0; i < heads * head_dim; ++i) EXPECT_DOUBLE_EQ(y[i], x[i]);
}

TEST(SwiGlu, Gradient) {
  const int64_t n = 37;
  std::vector<double> gate = RandomVector(n, 9, 2.0), up = RandomVector(n, 10);
  const std::vector<double> w = RandomVector(n, 11);
  std::vector<double> h(n);
  auto loss = [&] {
    SwiGluForward(gate.data(), up.data(), n, h.data());
    return WeightedSum(h, w);
  };
  std::vector<double> dgate(n), dup(n);
  SwiGluBackward(gate.data(), up.data(), w.data(), n, dgate.data(), dup.data());
  ExpectGradientMatches(gate, loss, dgate, "swiglu dgate");
  ExpectGradientMatches(up, loss, dup, "swiglu dup");
}

TEST(Linear, GradientAndAccumulation) {
  const int64_t n = 5;
  const int in = 7, out = 3;
  std::vector<double> x = RandomVector(n * in, 12), wt = RandomVector(out * in, 13);
  const std::vector<double> w = RandomVector(n * out, 14);
  std::vector<double> y(n * out);
  auto loss = [&] {
    LinearForward(x.data(), wt.data(), n, in, out, y.data());
    return WeightedSum(y, w);
  };
  std::vector<double> dx(n * in), dw(out * in, 0.0);
  LinearBackward(x.data(), wt.data(), w.data(), n, in, out, dx.data(), dw.data());
  ExpectGradientMatches(x, loss, dx, "linear dx");
  ExpectGradientMatches(wt, loss, dw, "linear dw");
  // A second backward accumulates into dw.
  std::vector<double> dw2 = dw;
  LinearBackward(x.data(), wt.data(), w.data(), n, in, out, static_cast<double*>(nullptr),
                 dw2.data());
  for (size_t i = 0; i < dw.size(); ++i) EXPECT_NEAR(dw2[i], 2 * dw[i], 1e-12);
}

}  // namespace
}  // namespace dqt
