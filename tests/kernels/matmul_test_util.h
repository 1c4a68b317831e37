// Shared helpers of the matmul tests: random weight matrices in any dtype with padded rows,
// and the rounding-error bound the SIMD kernels are held to.
#pragma once

#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/cpu/matmul.h"

namespace moe::test {

// A weight matrix with its own storage. Rows are padded by `pad_bytes` bytes filled with 0xFF
// (NaN in every float format), so a kernel reading past a row's end poisons its result.
struct OwnedWeights {
  std::vector<uint8_t> bytes;
  WeightMatrix w;
};

inline OwnedWeights MakeWeights(DType dtype, size_t rows, size_t cols,
                                const std::vector<float>& values, size_t pad_bytes) {
  OwnedWeights o;
  const size_t row_bytes = RowBytes(dtype, cols);
  const size_t stride = row_bytes + pad_bytes;
  o.bytes.assign(rows * stride + 64, 0xFF);
  for (size_t r = 0; r < rows; ++r) QuantizeRow(dtype, values.data() + r * cols, cols, o.bytes.data() + r * stride);
  o.w = {dtype, o.bytes.data(), rows, cols, stride};
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
