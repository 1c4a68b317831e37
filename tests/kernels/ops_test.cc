// Dot, AddScaled and MixScaled (attention's inner loops) on every compiled Highway target against a
// double-precision scalar loop, across lengths that exercise the unrolled body, the single
// vector loop and the scalar tail.
#include <gtest/gtest.h>
#include <hwy/tests/hwy_gtest.h>

#include <cmath>
#include <limits>
#include <algorithm>
#include <random>
#include <vector>

#include "kernels/cpu/ops.h"

namespace moe {
namespace {

class OpsTest : public hwy::TestWithParamTarget {};
HWY_TARGET_INSTANTIATE_TEST_SUITE_P(OpsTest);

std::vector<float> Random(size_t n, uint32_t seed, bool integers) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = integers ? std::round(u(rng) * 8) : u(rng);
  return v;
}

TEST_P(OpsTest, DotMatchesScalar) {
  for (size_t n : {0, 1, 3, 15, 16, 17, 63, 64, 65, 100, 128, 512, 576, 1031}) {
    for (bool integers : {true, false}) {
      auto a = Random(n, 1 + n, integers), b = Random(n, 1000 + n, integers);
      double want = 0, sum_abs = 0;
      for (size_t i = 0; i < n; ++i) {
        want += double(a[i]) * b[i];
        sum_abs += std::fabs(double(a[i]) * b[i]);
      }
      const float got = Dot(a.data(), b.data(), n);
      if (integers) EXPECT_EQ(got, static_cast<float>(want)) << "n=" << n;  // exact in any order
      else EXPECT_NEAR(got, want, 1e-6 * sum_abs + 1e-7) << "n=" << n;
    }
  }
}

TEST_P(OpsTest, AddScaledMatchesScalar) {
  for (size_t n : {0, 1, 7, 16, 17, 33, 512, 1031}) {
    auto x = Random(n, 7 + n, false), y = Random(n, 70 + n, false);
    std::vector<float> got = y;
    AddScaled(0.37f, x.data(), n, got.data());
    for (size_t i = 0; i < n; ++i) EXPECT_NEAR(got[i], y[i] + 0.37 * double(x[i]), 1e-6) << "n=" << n << " i=" << i;
    // Only [0, n) is written.
    std::vector<float> guard(n + 8, 5.0f);
    AddScaled(1.0f, x.data(), n, guard.data());
    for (size_t i = n; i < n + 8; ++i) EXPECT_EQ(guard[i], 5.0f);
  }
}

TEST_P(OpsTest, MixScaledMatchesScalar) {
  for (size_t n : {0, 1, 7, 16, 17, 33, 512, 1031}) {
    auto x = Random(n, 9 + n, false), y = Random(n, 90 + n, false);
    std::vector<float> got = y;
    MixScaled(0.25f, got.data(), -1.5f, x.data(), n);
    for (size_t i = 0; i < n; ++i)
      EXPECT_NEAR(got[i], 0.25 * double(y[i]) - 1.5 * double(x[i]), 1e-6) << "n=" << n << " i=" << i;
    std::vector<float> guard(n + 8, 5.0f);  // only [0, n) is written
    MixScaled(1.0f, guard.data(), 1.0f, x.data(), n);
    for (size_t i = n; i < n + 8; ++i) EXPECT_EQ(guard[i], 5.0f);
  }
}

// SiluMul and SoftmaxInPlace (vector Exp) against double-precision formulas, on lengths with
// and without a partial last vector; each element must not depend on the length around it.
TEST_P(OpsTest, SiluMulMatchesFormula) {
  for (size_t n : {1, 7, 16, 17, 64, 100, 1031}) {
    auto g = Random(n, 7 + n, false), u = Random(n, 70 + n, false);
    for (size_t i = 0; i < n; ++i) g[i] *= 20;  // e^-g over [e^-20, e^20]
    if (n > 3) g[3] = -200, g[2] = 90;  // beyond Exp's range both ways
    std::vector<float> out(n);
    SiluMul(g.data(), u.data(), n, out.data());
    for (size_t i = 0; i < n; ++i) {
      const double want = g[i] / (1 + std::exp(-double(g[i]))) * u[i];
      EXPECT_NEAR(out[i], want, 4e-7 * std::fabs(want) + 1e-30) << "n=" << n << " i=" << i;
    }
    if (n > 1) {  // the first n - 1 elements alone give the same bits
      std::vector<float> head(n - 1);
      SiluMul(g.data(), u.data(), n - 1, head.data());
      for (size_t i = 0; i + 1 < n; ++i) ASSERT_EQ(head[i], out[i]) << "n=" << n << " i=" << i;
    }
  }
}

TEST_P(OpsTest, SoftmaxMatchesFormula) {
  for (size_t n : {1, 5, 16, 17, 64, 100, 4097}) {
    auto x = Random(n, 11 + n, false);
    for (auto& v : x) v *= 30;
    if (n > 4) x[4] = -std::numeric_limits<float>::infinity();  // a masked logit
    if (n > 2) x[2] = x[0] - 100;                               // below e^-87 of the max
    std::vector<float> got = x;
    SoftmaxInPlace(got.data(), n);
    double m = -INFINITY, sum = 0, total = 0;
    for (float v : x) m = std::max(m, double(v));
    for (float v : x) sum += std::exp(double(v) - m);
    for (size_t i = 0; i < n; ++i) {
      const double want = std::exp(double(x[i]) - m) / sum;
      // x - m is rounded to float first (relative 2^-24 of |x - m|, which e^ turns into an
      // absolute error of the exponent), then Exp's ~1 ulp and the float sum's rounding
      // (at most n roundings of 2^-24 in lane order).
      const double rel = (std::fabs(double(x[i]) - m) + n) * 0x1p-24 + 1e-6;
      total += got[i];
      if (std::isinf(x[i])) continue;  // checked below
      EXPECT_NEAR(got[i], want, rel * want + 1e-37) << "n=" << n << " i=" << i;
    }
    EXPECT_NEAR(total, 1.0, 1e-5) << "n=" << n;
    if (n > 4) {
      EXPECT_EQ(got[4], 0.0f) << "masked logit must get probability 0";
    }
  }
}

}  // namespace
}  // namespace moe
