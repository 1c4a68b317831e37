#include "kernels/cpu/ops.h"

#include <algorithm>
#include <cmath>

namespace moe {

void RmsNormRow(const float* x, const float* w, size_t n, float eps, float* out) {
  double ss = 0;  // double: the sum of squares of 7k values must not lose the small ones
  for (size_t i = 0; i < n; ++i) ss += static_cast<double>(x[i]) * x[i];
  float scale = static_cast<float>(1.0 / std::sqrt(ss / n + eps));
  for (size_t i = 0; i < n; ++i) out[i] = x[i] * scale * w[i];
}

void RmsNormRows(const float* x, const float* w, size_t rows, size_t n, float eps, float* out) {
  for (size_t r = 0; r < rows; ++r) RmsNormRow(x + r * n, w, n, eps, out + r * n);
}

void ApplyRope(float* x, size_t n_heads, size_t head_stride, size_t n_dims, RopeStyle style,
               std::span<const float> freq, int64_t pos) {
  const size_t half = n_dims / 2;
  float cs[512], sn[512];
  for (size_t i = 0; i < half && i < 512; ++i) {
    double theta = static_cast<double>(pos) * freq[i];
    cs[i] = static_cast<float>(std::cos(theta));
    sn[i] = static_cast<float>(std::sin(theta));
  }
  for (size_t h = 0; h < n_heads; ++h) {
    float* v = x + h * head_stride;
    for (size_t i = 0; i < half; ++i) {
      size_t a = style == RopeStyle::kAdjacentPairs ? 2 * i : i;
      size_t b = style == RopeStyle::kAdjacentPairs ? 2 * i + 1 : i + half;
      float x0 = v[a], x1 = v[b];
      v[a] = x0 * cs[i] - x1 * sn[i];
      v[b] = x0 * sn[i] + x1 * cs[i];
    }
  }
}

}  // namespace moe
