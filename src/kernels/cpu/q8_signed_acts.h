// Internal to the Q8_0 VNNI kernels that feed vpdpbusd unsigned weights (w XOR 0x80 = w + 128)
// and signed activations: matmul_q8_gemm.cc's decode, which transposes blocks in registers,
// and matmul_q8_tiled.cc, which reads tiles stored that way. Σ (w + 128)·x = Σ w·x + 128·Σ x,
// so each token's block sum starts from -128·Σ x. Both kernels take the step below, so tiled
// and untiled weights give bitwise the same sums. Include inside an x86-64 GCC/Clang guard,
// after <immintrin.h>.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/cpu/matmul_common.h"

#ifndef MOE_AVX512_VNNI
#define MOE_AVX512_VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,f16c,fma")))
#endif

namespace moe::detail {

// One token's block: its quants, its scale and -128 · Σ quants.
struct SignedActBlock {
  int8_t q[kQ8_0Block];
  float d;
  int32_t neg_corr;
};

// Tokens [t0, t1) of xq, cols / 32 blocks each, into out.
MOE_AVX512_VNNI inline void PackSignedActs(const QuantizedActs& xq, size_t t0, size_t t1, SignedActBlock* out) {
  const size_t nb = xq.cols / kQ8_0Block;
  const __m256i k80 = _mm256_set1_epi8(static_cast<char>(0x80));
  for (size_t t = t0; t < t1; ++t) {
    const auto* xr = static_cast<const BlockQ8_0*>(xq.Row(t));
    for (size_t b = 0; b < nb; ++b) {
      SignedActBlock& a = out[(t - t0) * nb + b];
      const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xr[b].qs));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(a.q), q);
      // Σ (q + 128) over the 32 bytes in four 64-bit lanes, then Σ q = that - 32 · 128.
      const __m256i s = _mm256_sad_epu8(_mm256_xor_si256(q, k80), _mm256_setzero_si256());
      const __m128i s2 = _mm_add_epi64(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
      const int64_t sum = _mm_cvtsi128_si64(_mm_add_epi64(s2, _mm_unpackhi_epi64(s2, s2))) - 32 * 128;
      a.neg_corr = static_cast<int32_t>(-128 * sum);
      a.d = HalfToFloat(xr[b].d);
    }
  }
}

// The 4 bytes at p broadcast to every dword.
MOE_AVX512_VNNI inline __m512i BcastDword(const void* p) {
  int32_t v;
  __builtin_memcpy(&v, p, 4);
  return _mm512_set1_epi32(v);
}

// acc + (exact int32 block sums of 16 rows' unsigned quants q, q[j] lane r = quants 4j..4j+3
// of row r, with token x's) · (d_w · d_x).
MOE_AVX512_VNNI inline __m512 AddSignedBlock(const __m512i (&q)[8], __m512 d, const SignedActBlock& x, __m512 acc) {
  // Two chains of four: half the latency of one chain of eight.
  __m512i s0 = _mm512_set1_epi32(x.neg_corr), s1 = _mm512_setzero_si512();
#pragma GCC unroll 4
  for (size_t j = 0; j < 8; j += 2) {
    s0 = _mm512_dpbusd_epi32(s0, q[j], BcastDword(x.q + 4 * j));
    s1 = _mm512_dpbusd_epi32(s1, q[j + 1], BcastDword(x.q + 4 * j + 4));
  }
  const __m512 sum = _mm512_cvtepi32_ps(_mm512_add_epi32(s0, s1));
  return _mm512_fmadd_ps(sum, _mm512_mul_ps(d, _mm512_set1_ps(x.d)), acc);
}

}  // namespace moe::detail
