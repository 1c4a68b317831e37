// y = x · W for BF16 W (W's rows are the reduction) with AVX512_BF16: attention's weighted
// sum over a bf16 cache, o[h] = Σ_t e[h, t] · latent_t, where the cached vectors are W's rows
// and each head's softmax weights a token of x. The exact path widens every cached value to
// float and spends one FMA per 16 products per head; vdpbf16ps takes 32 products, so where
// it issues at the FMA's rate (AMD Zen 4, 5) the weighted sum runs at twice the rate.
//
// vdpbf16ps sums pairs along the reduction, so each vector holds, for 16 columns, the pair
// (W[r, c], W[r + 1, c]): two rows' 16 values interleaved by one vpermt2w. Every token of x
// (rounded to bf16 once) multiplies it by its own pair (x[r], x[r + 1]), broadcast from
// memory: up to 16 tokens (MLA's heads) per interleaved vector. Each output is one float32
// chain over the row pairs in order, so a token's result does not depend on the others
// sharing the call.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "kernels/cpu/matmul_avx512.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#define MOE_BF16_T __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,fma")))

namespace moe::detail {
namespace {

constexpr size_t kCols = 16;      // output columns per vector (float lanes)
constexpr size_t kMaxTokens = 16;  // accumulators per block

// Word 2i of an interleaved vector is row r's column i, word 2i + 1 row r + 1's.
alignas(64) constexpr uint16_t kInterleave[32] = {0, 32, 1, 33, 2,  34, 3,  35, 4,  36, 5,  37, 6,  38, 7,  39,
                                                  8, 40, 9, 41, 10, 42, 11, 43, 12, 44, 13, 45, 14, 46, 15, 47};

// Tokens t0 .. t0 + kT - 1 against columns [c0, c0 + ncols): xp holds, per row pair p, every
// token's dword (bf16 x[2p] low, x[2p + 1] high; the last pair of an odd row count is (x, 0))
// at xp[p * n_tokens + t].
template <size_t kT>
MOE_BF16_T void Block(const WeightMatrix& w, const uint32_t* xp, size_t n_tokens, size_t t0, size_t c0,
                      size_t ncols, float* y, size_t y_stride) {
  const __mmask16 m = static_cast<__mmask16>((1u << ncols) - 1);
  const __m512i idx = _mm512_load_si512(kInterleave);
  __m512 acc[kT];
#pragma GCC unroll 16
  for (size_t k = 0; k < kT; ++k) acc[k] = _mm512_setzero_ps();
  alignas(32) static const uint16_t kZeros[kCols] = {};  // row r + 1 of an odd last pair
  const char* row = static_cast<const char*>(w.data) + c0 * sizeof(uint16_t);
  const size_t stride = w.row_stride, npairs = (w.rows + 1) / 2, full = w.rows / 2;
  const uint32_t* x = xp + t0;
  for (size_t p = 0; p < npairs; ++p, row += 2 * stride, x += n_tokens) {
    const void* next = p < full ? row + stride : static_cast<const void*>(kZeros);
    const __m512bh v = reinterpret_cast<__m512bh>(_mm512_permutex2var_epi16(
        _mm512_castsi256_si512(_mm256_maskz_loadu_epi16(m, row)), idx,
        _mm512_castsi256_si512(_mm256_maskz_loadu_epi16(m, next))));
#pragma GCC unroll 16
    for (size_t k = 0; k < kT; ++k)
      acc[k] = _mm512_dpbf16_ps(acc[k], v, reinterpret_cast<__m512bh>(_mm512_set1_epi32(static_cast<int>(x[k]))));
  }
#pragma GCC unroll 16
  for (size_t k = 0; k < kT; ++k) _mm512_mask_storeu_ps(y + (t0 + k) * y_stride + c0, m, acc[k]);
}

void Tokens(const WeightMatrix& w, const uint32_t* xp, size_t n_tokens, size_t t0, size_t kt, size_t c0,
            size_t ncols, float* y, size_t y_stride) {
  switch (kt) {
#define MOE_CASE(n) \
  case n: return Block<n>(w, xp, n_tokens, t0, c0, ncols, y, y_stride);
    MOE_CASE(16) MOE_CASE(15) MOE_CASE(14) MOE_CASE(13) MOE_CASE(12) MOE_CASE(11) MOE_CASE(10) MOE_CASE(9)
    MOE_CASE(8) MOE_CASE(7) MOE_CASE(6) MOE_CASE(5) MOE_CASE(4) MOE_CASE(3) MOE_CASE(2) MOE_CASE(1)
#undef MOE_CASE
    default: return;
  }
}

}  // namespace

void MatMulTransposedBf16(const WeightMatrix& w, const float* x, size_t x_stride, size_t n_tokens, float* y,
                          size_t y_stride) {
  const size_t npairs = (w.rows + 1) / 2;
  thread_local std::vector<uint16_t> rounded;
  thread_local std::vector<uint32_t> pairs;
  rounded.assign(n_tokens * 2 * npairs, 0);  // an odd row count leaves each token's last high half 0
  for (size_t t = 0; t < n_tokens; ++t)
    QuantizeActivations(DType::kBF16, x + t * x_stride, x_stride, 1, w.rows, rounded.data() + t * 2 * npairs);
  pairs.resize(n_tokens * npairs);  // [pair][token]
  for (size_t t = 0; t < n_tokens; ++t)
    for (size_t p = 0; p < npairs; ++p)
      pairs[p * n_tokens + t] = static_cast<uint32_t>(rounded[t * 2 * npairs + 2 * p]) |
                                static_cast<uint32_t>(rounded[t * 2 * npairs + 2 * p + 1]) << 16;
  for (size_t c0 = 0; c0 < w.cols; c0 += kCols) {
    const size_t ncols = w.cols - c0 < kCols ? w.cols - c0 : kCols;
    for (size_t t0 = 0; t0 < n_tokens; t0 += kMaxTokens)
      Tokens(w, pairs.data(), n_tokens, t0, n_tokens - t0 < kMaxTokens ? n_tokens - t0 : kMaxTokens, c0, ncols, y,
             y_stride);
  }
}

}  // namespace moe::detail

#else  // not x86-64 GCC/Clang: no intrinsic path

namespace moe::detail {
void MatMulTransposedBf16(const WeightMatrix&, const float*, size_t, size_t, float*, size_t) {}
}  // namespace moe::detail

#endif
