// Dot and AddScaled (attention's inner loops) on every compiled Highway target against a
// double-precision scalar loop, across lengths that exercise the unrolled body, the single
// vector loop and the scalar tail.
#include <gtest/gtest.h>
#include <hwy/tests/hwy_gtest.h>

#include <cmath>
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

TEST_P(OpsTest, AddScaledRowsMatchesScalar) {
  for (size_t n : {0, 1, 15, 16, 17, 32, 33, 64, 512, 1031})
    for (size_t rows : {0, 1, 3, 16}) {
      const size_t stride = n + 5;
      auto x = Random(rows * stride, 11 + n, false), a = Random(rows, 3 + rows, false);
      auto y = Random(n + 8, 5 + n, false);
      std::vector<float> got = y;
      AddScaledRows(a.data(), x.data(), stride, rows, n, got.data());
      for (size_t i = 0; i < n; ++i) {
        double want = y[i];
        for (size_t k = 0; k < rows; ++k) want += double(a[k]) * x[k * stride + i];
        EXPECT_NEAR(got[i], want, 1e-5) << "n=" << n << " rows=" << rows << " i=" << i;
      }
      for (size_t i = n; i < n + 8; ++i) EXPECT_EQ(got[i], y[i]);  // nothing past n
    }
}

}  // namespace
}  // namespace moe
