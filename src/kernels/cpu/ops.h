// Element-wise and row-wise operations of a forward pass, float32: RMSNorm, SiLU-gated
// products, RoPE, softmax, scaled accumulation. Plain loops the compiler vectorizes; the
// matrix products (the hot spot) live in matmul.h.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace moe {

// out[i] = x[i] / sqrt(mean(x²) + eps) * w[i], one row of n; out may alias x.
void RmsNormRow(const float* x, const float* w, size_t n, float eps, float* out);
// Applied to each of `rows` rows of n with stride n.
void RmsNormRows(const float* x, const float* w, size_t rows, size_t n, float eps, float* out);

// out[i] = silu(gate[i]) * up[i], silu(g) = g / (1 + e^-g).
void SiluMul(const float* gate, const float* up, size_t n, float* out);

// y[i] += a * x[i]
void AddScaled(float a, const float* x, size_t n, float* y);
// y[i] = a * y[i] + b * x[i]: the online-softmax merge of attention's partial sums.
void MixScaled(float a, float* y, float b, const float* x, size_t n);

// In-place softmax over n values, max-subtracted for stability.
void SoftmaxInPlace(float* x, size_t n);
// x[i] = e^(x[i] - m) in place with m = max x (written to *max_out; -inf for n = 0), returning
// Σ x[i]: softmax without the division, for attention computed in chunks that merge later.
float ExpShiftInPlace(float* x, size_t n, float* max_out);

float Dot(const float* a, const float* b, size_t n);

// Rotary embedding tables for one position: cos/sin of θ_i = pos · freq_i, i < n_dims/2.
struct RopeFreqs {
  std::vector<float> freq;  // per pair
  // YaRN: θ = interp·(1-ramp) + extrap·ramp per pair is folded into `freq` at build time.
};
enum class RopeStyle {
  kAdjacentPairs,  // rotate (x[2i], x[2i+1]) — ggml "normal", DeepSeek, llama GGUF
  kHalves,         // rotate (x[i], x[i + d/2]) — NeoX / HF, Qwen
};
// Rotates the first n_dims values of each of n_heads heads (stride head_stride) at `pos`.
void ApplyRope(float* x, size_t n_heads, size_t head_stride, size_t n_dims, RopeStyle style,
               std::span<const float> freq, int64_t pos);

}  // namespace moe
