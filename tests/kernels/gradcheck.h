// Central finite differences in double precision against an analytic gradient, with a report
// of the first mismatch and the worst absolute/relative error.
#pragma once

#include <cmath>
#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace dqt::testing {

inline std::vector<double> RandomVector(size_t n, uint32_t seed, double scale = 1.0) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> dist(0.0, scale);
  std::vector<double> v(n);
  for (double& x : v) x = dist(rng);
  return v;
}

inline double WeightedSum(const std::vector<double>& out, const std::vector<double>& w) {
  double acc = 0;
  for (size_t i = 0; i < out.size(); ++i) acc += out[i] * w[i];
  return acc;
}

// Perturbs each x[i] by +-h, evaluates loss(), and compares (L+ - L-) / 2h with analytic[i].
// Tolerance: |a - n| <= atol + rtol * max(|a|, |n|); the O(h^2) truncation error of central
// differences with h = 1e-5 on O(1) functions is ~1e-10, well inside it.
inline void ExpectGradientMatches(std::vector<double>& x, const std::function<double()>& loss,
                                  const std::vector<double>& analytic, const std::string& what,
                                  double rtol = 1e-6, double atol = 1e-8) {
  ASSERT_EQ(x.size(), analytic.size()) << what;
  constexpr double kStep = 1e-5;
  double max_abs = 0, max_rel = 0;
  int64_t first_bad = -1;
  double bad_a = 0, bad_n = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const double saved = x[i];
    x[i] = saved + kStep;
    const double plus = loss();
    x[i] = saved - kStep;
    const double minus = loss();
    x[i] = saved;
    const double numeric = (plus - minus) / (2 * kStep);
    const double err = std::fabs(numeric - analytic[i]);
    const double mag = std::max(std::fabs(numeric), std::fabs(analytic[i]));
    max_abs = std::max(max_abs, err);
    if (mag > 0) max_rel = std::max(max_rel, err / mag);
    if (err > atol + rtol * mag && first_bad < 0) {
      first_bad = static_cast<int64_t>(i);
      bad_a = analytic[i];
      bad_n = numeric;
    }
  }
  EXPECT_LT(first_bad, 0) << what << ": first mismatch at index " << first_bad << ": analytic "
                          << bad_a << " vs numeric " << bad_n << "; max abs err " << max_abs
                          << ", max rel err " << max_rel << " over " << x.size() << " elements";
}

}  // namespace dqt::testing
