// Shared helpers of the matmul tests: random weight matrices in any dtype with padded rows,
// and the rounding-error bound the SIMD kernels are held to.
#pragma once

#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <algorithm>
#include <random>
#include <vector>

#include "kernels/cpu/matmul.h"

namespace moe::test {

// A weight matrix with its own storage. Rows are padded by `pad_bytes` bytes filled with 0xFF
// (NaN in every float format), so a kernel reading past a row's end poisons its result.
// FP8 weights also own their [ceil(rows / 128), ceil(cols / 128)] scale grid, made like
// DeepSeek-V3's quantizer (scale = block max|w| / 448) or, with `pow2_scales`, rounded up to a
// power of two so that small integers survive quantization exactly.
struct OwnedWeights {
  std::vector<uint8_t> bytes;
  std::vector<float> scales;
  WeightMatrix w;
};

inline OwnedWeights MakeWeights(DType dtype, size_t rows, size_t cols,
                                const std::vector<float>& values, size_t pad_bytes,
                                bool pow2_scales = false) {
  OwnedWeights o;
  const size_t row_bytes = RowBytes(dtype, cols);
  const size_t stride = row_bytes + pad_bytes;
  o.bytes.assign(rows * stride + 64, 0xFF);
  if (dtype != DType::kF8E4M3) {
    for (size_t r = 0; r < rows; ++r) QuantizeRow(dtype, values.data() + r * cols, cols, o.bytes.data() + r * stride);
    o.w = {dtype, o.bytes.data(), rows, cols, stride};
    return o;
  }
  const size_t br = (rows + kF8Block - 1) / kF8Block, bc = (cols + kF8Block - 1) / kF8Block;
  o.scales.assign(br * bc, 0.0f);
  for (size_t r = 0; r < rows; ++r)
    for (size_t c = 0; c < cols; ++c) {
      float& s = o.scales[r / kF8Block * bc + c / kF8Block];
      s = std::max(s, std::fabs(values[r * cols + c]));
    }
  for (float& s : o.scales) {
    s = s == 0 ? 1.0f : s / 448.0f;
    if (pow2_scales) s = std::exp2(std::ceil(std::log2(s)));
  }
  for (size_t r = 0; r < rows; ++r)
    for (size_t c = 0; c < cols; ++c)
      o.bytes[r * stride + c] = F32ToF8E4M3(values[r * cols + c] / o.scales[r / kF8Block * bc + c / kF8Block]);
  o.w = {dtype, o.bytes.data(), rows, cols, stride, o.scales.data(), bc, 0};
  return o;
}

inline std::vector<float> RandomValues(size_t n, uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& f : v) f = dist(rng);
  return v;
}

// Small integers: every product and partial sum of a dot product over them is an integer
// below 2^24, hence exact in float32 whatever the summation order.
inline std::vector<float> RandomIntegers(size_t n, uint32_t seed, int lo, int hi) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> dist(lo, hi);
  std::vector<float> v(n);
  for (float& f : v) f = static_cast<float>(dist(rng));
  return v;
}

// Bound on |kernel - reference| for one output y = Σ_{c<n} w_c·x_c computed two ways in float32
// (Higham, "Accuracy and Stability of Numerical Algorithms", §3.1): with unit roundoff
// u = FLT_EPSILON / 2 = 2^-24, any summation order whose partial sums each take part in at most
// n + 1 roundings (a product rounding plus at most n additions; the SIMD order — lane partial
// sums, a log2(lanes) tree, a scalar tail — has fewer) satisfies
//   |fl(y) - y| <= γ_{n+1} · Σ|w_c·x_c|,  γ_k = k·u / (1 - k·u).
// Both sides obey this, so |kernel - reference| <= 2·γ_{n+2}·Σ|w_c·x_c| (one spare rounding
// covers the per-block scale multiply of the integer-dot paths). Weights are exact after
// decoding (F16/BF16 widen exactly; Q8_0's fp16 scale times an int8 is exact in float32).
inline double ErrorBound(size_t n, double sum_abs_products) {
  const double u = FLT_EPSILON / 2;
  const double k = static_cast<double>(n + 2);
  const double gamma = k * u / (1 - k * u);
  return 2 * gamma * sum_abs_products + 1e-30;
}

}  // namespace moe::test
