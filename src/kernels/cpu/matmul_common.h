// Target-independent helpers shared by the matmul kernels (Highway bodies in matmul-inl.h,
// intrinsics in matmul_avx512.cc): unaligned element loads, scalar fp16 widening, the
// activation quantizer's entry point and the token pass size.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "kernels/cpu/matmul.h"

namespace moe::detail {

// Element c of a row of T that may sit at any byte offset (row_stride need not be a multiple
// of the element size).
template <typename T>
inline T LoadAt(const void* row, size_t c) {
  T v;
  std::memcpy(&v, static_cast<const char*>(row) + c * sizeof(T), sizeof(T));
  return v;
}

// IEEE binary16 -> binary32 without branches (M. Dukhan's FP16 library, fp16_ieee_to_fp32_value),
// exact for every input including subnormals, infinities and NaN. Used for the per-block Q8_0
// scale, where the out-of-line F16ToF32 would cost more than the 32 products it scales.
inline float HalfToFloat(uint16_t h) {
  const uint32_t w = static_cast<uint32_t>(h) << 16;
  const uint32_t sign = w & 0x80000000u;
  const uint32_t two_w = w + w;
  // Normal values: shift the exponent/mantissa into place and rebias by 2^-112.
  const uint32_t normalized_bits = (two_w >> 4) + (0xE0u << 23);
  float normalized;
  std::memcpy(&normalized, &normalized_bits, 4);
  normalized *= 0x1.0p-112f;
  // Subnormals: place the mantissa below 0.5 in a float with exponent of 0.5, subtract 0.5.
  const uint32_t denormalized_bits = (two_w >> 17) | (126u << 23);
  float denormalized;
  std::memcpy(&denormalized, &denormalized_bits, 4);
  denormalized -= 0.5f;
  uint32_t normalized_u, denormalized_u;
  std::memcpy(&normalized_u, &normalized, 4);
  std::memcpy(&denormalized_u, &denormalized, 4);
  const uint32_t result = sign | (two_w < (1u << 27) ? denormalized_u : normalized_u);
  float f;
  std::memcpy(&f, &result, 4);
  return f;
}

// Bytes from a decode tile's rows (tile_rows from r0) to the rows ahead_rows on, whose same
// columns the tile prefetches into L2; 0 when that tile would pass row_end: the rows past it
// are another work item's, which another thread streams from DRAM anyway.
inline size_t PrefetchOffset(size_t ahead_rows, size_t tile_rows, size_t r0, size_t row_end, size_t row_stride) {
  return r0 + ahead_rows + tile_rows <= row_end ? ahead_rows * row_stride : 0;
}

// The distance of the 4-row decode tiles of the exact path (matmul-inl.h) and of the
// AVX512_BF16 FP8 kernel, as the Q8_0 VNNI decode kernel's 16-row tile. On Zen 4 (4096x1024,
// cold) one 4-row tile ahead into L1 left them latency bound: BF16 11.5 -> 21.3 GB/s on one
// thread and 18.9 -> 28.4 on two, F16 14.6 -> 28.4 on two; FP8 on one thread 8.8 GB/s, one
// tile ahead into L2 14.6, 16 rows 21.0, 32 rows 20.4. (The AVX512_FP16 FP8 kernel keeps one
// tile ahead: two tiles, or L1, measured slower on Intel, whose L1 lines of 2-7 KB rows were
// evicted before their use.)
constexpr size_t kDecodePrefetchRows = 16;

// Highway activation quantizers of matmul-inl.h, dispatched by matmul.cc: rows of x to
// Q8_0 exactly as QuantizeRow (ggml's quantize_row_q8_0_ref), cols / 32 blocks per row,
// rows out_stride blocks apart; and rows of x to bf16 exactly as F32ToBf16, out_stride
// values apart.
void QuantizeRowsQ8_0(const float* x, size_t x_stride, size_t n_tokens, size_t cols, BlockQ8_0* out,
                      size_t out_stride);
void RoundRowsBf16(const float* x, size_t x_stride, size_t n_tokens, size_t cols, uint16_t* out,
                   size_t out_stride);

// MatMulTransposedQuantizedActs for FP8 weights in rows (matmul-inl.h, dispatched per
// Highway target): the block scales applied once per 128-row block.
void MatMulTransposedF8Folded(const WeightMatrix& w, const float* x, size_t x_stride, size_t n_tokens, float* y,
                              size_t y_stride);

// Tokens per pass over the rows: the activations of one pass ([tokens, cols] float32) stay
// in a budget that fits in L2 next to the kR weight rows being reused, so a GEMM reads each
// weight row once per pass instead of once per 4-token tile from DRAM.
inline size_t TokensPerPass(size_t cols, size_t n_tokens) {
  constexpr size_t kActivationBudgetBytes = 512 * 1024;
  size_t t = kActivationBudgetBytes / (cols * sizeof(float) + 1);
  t = t < 4 ? 4 : t / 4 * 4;
  return t < n_tokens ? t : n_tokens;
}

}  // namespace moe::detail
