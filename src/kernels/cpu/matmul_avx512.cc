// AVX-512 intrinsic bodies of the fast path of matmul.h: Q8_0 x Q8_0 row tiles with
// AVX512_VNNI vpdpbusd, which Highway 1.0.3 cannot express (DESIGN.md item 7; the Q8_0 GEMM,
// BF16 and FP8 have files of their own). Every function carries its own target attribute, so
// this file compiles without -m flags and the binary still runs on CPUs without these
// extensions; callers go through HasAvx512Dot() (CPUID) first.
//
// The kernels block registers as the exact path does (kR = 4 weight rows x kT <= 4 tokens,
// one accumulator each) and walk passes of tokens sized for L2 (TokensPerPass).
#include "kernels/cpu/matmul_avx512.h"

#include <cstdint>
#include <vector>

#include "kernels/cpu/matmul_common.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#define MOE_AVX512_DOT \
  __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx512bf16,f16c,fma")))

namespace moe::detail {
namespace {

// Stores the sums of a tile's accumulators to y[(t0 + t) * y_stride + r0 + r]. A full 4 x 4
// tile is reduced as a transpose (45 shuffles and adds for 16 sums instead of 16 separate
// ~10-op reductions, which would cost a third of a 1024-column tile): after the steps below,
// lane 4t + r holds the total of acc[r][t].
template <size_t kR, size_t kT>
MOE_AVX512_DOT inline void StoreSums(__m512 (&acc)[kR][kT], float* y, size_t y_stride,
                                     size_t r0, size_t t0) {
  if constexpr (kR == 4 && kT == 4) {
    // 16 -> 8: fold 256-bit halves; pair p holds acc p0 in lanes 0-7 and p1 in 8-15.
    __m512 h[8];
    for (size_t i = 0; i < 8; ++i) {
      const __m512 a = acc[(2 * i) / 4][(2 * i) % 4], b = acc[(2 * i + 1) / 4][(2 * i + 1) % 4];
      h[i] = _mm512_add_ps(_mm512_shuffle_f32x4(a, b, 0x44), _mm512_shuffle_f32x4(a, b, 0xEE));
    }
    // 8 -> 4: fold 128-bit blocks; q[j] block k = 4-lane partial of accumulator 4j + k.
    __m512 q[4];
    for (size_t j = 0; j < 4; ++j) {
      q[j] = _mm512_add_ps(_mm512_shuffle_f32x4(h[2 * j], h[2 * j + 1], 0x88),
                           _mm512_shuffle_f32x4(h[2 * j], h[2 * j + 1], 0xDD));
    }
    // 4 -> 2 -> 1: transpose-add within each 128-bit block.
    const __m512 v0 = _mm512_add_ps(_mm512_unpacklo_ps(q[0], q[1]), _mm512_unpackhi_ps(q[0], q[1]));
    const __m512 v1 = _mm512_add_ps(_mm512_unpacklo_ps(q[2], q[3]), _mm512_unpackhi_ps(q[2], q[3]));
    const __m512d v0d = _mm512_castps_pd(v0), v1d = _mm512_castps_pd(v1);
    const __m512 sums = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(v0d, v1d)),
                                      _mm512_castpd_ps(_mm512_unpackhi_pd(v0d, v1d)));
    // Accumulator index i = 4j + k sits in lane 4k + j; i enumerates acc[i / 4][i % 4], so
    // lane 4t + r holds acc[r][t]: token t's four rows are block t.
    float* yt = y + t0 * y_stride + r0;
    _mm_storeu_ps(yt, _mm512_castps512_ps128(sums));
    _mm_storeu_ps(yt + y_stride, _mm512_extractf32x4_ps(sums, 1));
    _mm_storeu_ps(yt + 2 * y_stride, _mm512_extractf32x4_ps(sums, 2));
    _mm_storeu_ps(yt + 3 * y_stride, _mm512_extractf32x4_ps(sums, 3));
  } else {
    for (size_t t = 0; t < kT; ++t)
      for (size_t r = 0; r < kR; ++r) y[(t0 + t) * y_stride + r0 + r] = _mm512_reduce_add_ps(acc[r][t]);
  }
}

// ---- Q8_0 x Q8_0 ----
// A Q8_0 block is 32 int8 behind a 2-byte scale, so two consecutive blocks fill one zmm:
// bytes 0-31 from block b, 32-63 from block b + 1 (zero when b is the last block).
MOE_AVX512_DOT inline __m512i LoadQuantPair(const BlockQ8_0* blocks, size_t b, bool two) {
  const __m256i lo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blocks[b].qs));
  const __m256i hi = two ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blocks[b + 1].qs))
                         : _mm256_setzero_si256();
  return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}

// The pair's fp16 scales widened to float, lanes 0-7 = d(b) and 8-15 = d(b + 1) (0 if absent):
// the same lanes vpdpbusd fills with block b's and b + 1's sums.
MOE_AVX512_DOT inline __m512 LoadScalePair(const BlockQ8_0* blocks, size_t b, bool two) {
  const uint16_t d1 = two ? blocks[b + 1].d : 0;
  const __m128 f = _mm_cvtph_ps(_mm_cvtsi32_si128(blocks[b].d | (uint32_t{d1} << 16)));
  const __m512i idx = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
  return _mm512_permutexvar_ps(idx, _mm512_castps128_ps512(f));
}

// vpdpbusd multiplies unsigned by signed bytes. Activations are shifted to unsigned,
// u = x + 128 (x XOR 0x80), so Σ u·w = Σ x·w + 128·Σ w; the correction 128·Σ w (vpdpbusd of
// 0x80 bytes with w) depends on the weight row only and starts each accumulation negated.
// Every int32 lane sums 4 byte products: |Σ| <= 4·255·128, exact. Per row, token and pair of
// blocks the work is one vpdpbusd, one convert, one scale product and one FMA; everything
// else is hoisted into packing (prefill) or shared by the tile (decode).
//
// Packed operands, 128 bytes per row (or token) and pair of blocks, contiguous per tile:
// weights {-128·Σw per lane, scales}; activations {x XOR 0x80, scales}.
struct alignas(64) PackedPair {
  __m512i q;
  __m512 d;
};

MOE_AVX512_DOT inline PackedPair PackWeightPair(const BlockQ8_0* row, size_t b, bool two) {
  const __m512i zero = _mm512_setzero_si512();
  const __m512i k80 = _mm512_set1_epi8(static_cast<char>(0x80));
  const __m512i corr = _mm512_dpbusd_epi32(zero, k80, LoadQuantPair(row, b, two));
  return {_mm512_sub_epi32(zero, corr), LoadScalePair(row, b, two)};
}

MOE_AVX512_DOT inline PackedPair PackActPair(const BlockQ8_0* row, size_t b, bool two) {
  const __m512i k80 = _mm512_set1_epi8(static_cast<char>(0x80));
  return {_mm512_xor_si512(LoadQuantPair(row, b, two), k80), LoadScalePair(row, b, two)};
}

// One tile over all pairs: wr = the kR weight rows (for their quants), wp = their packed pairs
// [pair][kR], xp = token t0's packed pairs, tokens n_pairs apart.
template <size_t kR, size_t kT>
MOE_AVX512_DOT void TileQ8(const BlockQ8_0* const* wr, const PackedPair* wp,
                           const PackedPair* xp, size_t n_blocks, float* y, size_t y_stride,
                           size_t r0, size_t t0) {
  const size_t n_pairs = (n_blocks + 1) / 2;
  __m512 acc[kR][kT];
  for (size_t r = 0; r < kR; ++r)
    for (size_t t = 0; t < kT; ++t) acc[r][t] = _mm512_setzero_ps();

  for (size_t p = 0; p < n_pairs; ++p) {
    const bool two = 2 * p + 1 < n_blocks;
    __m512i wq[kR];
    for (size_t r = 0; r < kR; ++r) wq[r] = LoadQuantPair(wr[r], 2 * p, two);
    const PackedPair* wpp = wp + p * kR;
    for (size_t t = 0; t < kT; ++t) {
      const PackedPair& x = xp[t * n_pairs + p];
      for (size_t r = 0; r < kR; ++r) {
        const __m512i sumi = _mm512_dpbusd_epi32(wpp[r].q, x.q, wq[r]);
        acc[r][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sumi), _mm512_mul_ps(wpp[r].d, x.d), acc[r][t]);
      }
    }
  }
  StoreSums<kR, kT>(acc, y, y_stride, r0, t0);
}

template <size_t kR>
MOE_AVX512_DOT void RowTilesQ8(const WeightMatrix& w, size_t r0, const PackedPair* xp,
                               size_t t0, size_t t1, std::vector<PackedPair>& wp, float* y,
                               size_t y_stride) {
  const size_t n_blocks = w.cols / kQ8_0Block, n_pairs = (n_blocks + 1) / 2;
  const BlockQ8_0* wr[kR];
  for (size_t r = 0; r < kR; ++r) wr[r] = static_cast<const BlockQ8_0*>(w.Row(r0 + r));
  wp.resize(n_pairs * kR);
  for (size_t p = 0; p < n_pairs; ++p) {
    for (size_t r = 0; r < kR; ++r) {
      // First touch of these weights: prefetch the same columns of the next row tile (rows
      // are usually consecutive, so this runs one tile ahead of a sequential stream).
      _mm_prefetch(reinterpret_cast<const char*>(wr[r] + 2 * p) + kR * w.row_stride, _MM_HINT_T0);
      wp[p * kR + r] = PackWeightPair(wr[r], 2 * p, 2 * p + 1 < n_blocks);
    }
  }
  size_t t = t0;
  for (; t + 4 <= t1; t += 4)
    TileQ8<kR, 4>(wr, wp.data(), xp + (t - t0) * n_pairs, n_blocks, y, y_stride, r0, t);
  const PackedPair* xt = xp + (t - t0) * n_pairs;
  switch (t1 - t) {
    case 3: TileQ8<kR, 3>(wr, wp.data(), xt, n_blocks, y, y_stride, r0, t); break;
    case 2: TileQ8<kR, 2>(wr, wp.data(), xt, n_blocks, y, y_stride, r0, t); break;
    case 1: TileQ8<kR, 1>(wr, wp.data(), xt, n_blocks, y, y_stride, r0, t); break;
    default: break;
  }
}

// Decode (one or two tokens): packing a weight row costs as much as using it once, so the
// offset moves to the weights instead, u = w XOR 0x80: Σ u·x = Σ w·x + 128·Σ x, and the
// correction -128·Σ x belongs to the token, packed with it as {x, -128·Σx, scales}.
struct alignas(64) PackedActSigned {
  __m512i q;
  __m512i neg_corr;
  __m512 d;
};

MOE_AVX512_DOT inline PackedActSigned PackActSigned(const BlockQ8_0* row, size_t b, bool two) {
  const __m512i zero = _mm512_setzero_si512();
  const __m512i k80 = _mm512_set1_epi8(static_cast<char>(0x80));
  const __m512i q = LoadQuantPair(row, b, two);
  return {q, _mm512_sub_epi32(zero, _mm512_dpbusd_epi32(zero, k80, q)), LoadScalePair(row, b, two)};
}

template <size_t kR, size_t kT>
MOE_AVX512_DOT void TileQ8Decode(const WeightMatrix& w, size_t r0, const PackedActSigned* xp,
                                 float* y, size_t y_stride, size_t t0) {
  const size_t n_blocks = w.cols / kQ8_0Block, n_pairs = (n_blocks + 1) / 2;
  const __m512i k80 = _mm512_set1_epi8(static_cast<char>(0x80));
  const BlockQ8_0* wr[kR];
  for (size_t r = 0; r < kR; ++r) wr[r] = static_cast<const BlockQ8_0*>(w.Row(r0 + r));
  __m512 acc[kR][kT];
  for (size_t r = 0; r < kR; ++r)
    for (size_t t = 0; t < kT; ++t) acc[r][t] = _mm512_setzero_ps();

  for (size_t p = 0; p < n_pairs; ++p) {
    const bool two = 2 * p + 1 < n_blocks;
    __m512i wu[kR];
    __m512 wd[kR];
    for (size_t r = 0; r < kR; ++r) {
      // Prefetch the same columns of the next row tile (one tile ahead of the stream).
      _mm_prefetch(reinterpret_cast<const char*>(wr[r] + 2 * p) + kR * w.row_stride, _MM_HINT_T0);
      wu[r] = _mm512_xor_si512(LoadQuantPair(wr[r], 2 * p, two), k80);
      wd[r] = LoadScalePair(wr[r], 2 * p, two);
    }
    for (size_t t = 0; t < kT; ++t) {
      const PackedActSigned& x = xp[t * n_pairs + p];
      for (size_t r = 0; r < kR; ++r) {
        const __m512i sumi = _mm512_dpbusd_epi32(x.neg_corr, wu[r], x.q);
        acc[r][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sumi), _mm512_mul_ps(wd[r], x.d), acc[r][t]);
      }
    }
  }
  StoreSums<kR, kT>(acc, y, y_stride, r0, t0);
}

template <size_t kT>
MOE_AVX512_DOT void RowsQ8Decode(const WeightMatrix& w, const QuantizedActs& xq, float* y,
                                 size_t y_stride, size_t row_begin, size_t row_end) {
  constexpr size_t kR = 4;
  const size_t n_blocks = w.cols / kQ8_0Block, n_pairs = (n_blocks + 1) / 2;
  thread_local std::vector<PackedActSigned> xp;
  xp.resize(kT * n_pairs);
  for (size_t t = 0; t < kT; ++t) {
    const auto* xr = static_cast<const BlockQ8_0*>(xq.Row(t));
    for (size_t p = 0; p < n_pairs; ++p) xp[t * n_pairs + p] = PackActSigned(xr, 2 * p, 2 * p + 1 < n_blocks);
  }
  size_t r = row_begin;
  for (; r + kR <= row_end; r += kR) TileQ8Decode<kR, kT>(w, r, xp.data(), y, y_stride, 0);
  for (; r < row_end; ++r) TileQ8Decode<1, kT>(w, r, xp.data(), y, y_stride, 0);
}

// Prefill: passes of tokens as in the exact path; pack the pass's activations once, then per
// tile of rows pack their corrections and scales once and run every token tile over them.
MOE_AVX512_DOT void RowsQ8(const WeightMatrix& w, const QuantizedActs& xq, float* y,
                           size_t y_stride, size_t row_begin, size_t row_end) {
  if (xq.n_tokens == 1) return RowsQ8Decode<1>(w, xq, y, y_stride, row_begin, row_end);
  if (xq.n_tokens == 2) return RowsQ8Decode<2>(w, xq, y, y_stride, row_begin, row_end);
  constexpr size_t kR = 4;
  const size_t n_blocks = w.cols / kQ8_0Block, n_pairs = (n_blocks + 1) / 2;
  thread_local std::vector<PackedPair> xp, wp;
  const size_t pass = TokensPerPass(n_pairs * sizeof(PackedPair) / sizeof(float), xq.n_tokens);
  for (size_t t0 = 0; t0 < xq.n_tokens; t0 += pass) {
    const size_t t1 = t0 + pass < xq.n_tokens ? t0 + pass : xq.n_tokens;
    xp.resize((t1 - t0) * n_pairs);
    for (size_t t = t0; t < t1; ++t) {
      const auto* xr = static_cast<const BlockQ8_0*>(xq.Row(t));
      for (size_t p = 0; p < n_pairs; ++p)
        xp[(t - t0) * n_pairs + p] = PackActPair(xr, 2 * p, 2 * p + 1 < n_blocks);
    }
    size_t r = row_begin;
    for (; r + kR <= row_end; r += kR) RowTilesQ8<kR>(w, r, xp.data(), t0, t1, wp, y, y_stride);
    for (; r < row_end; ++r) RowTilesQ8<1>(w, r, xp.data(), t0, t1, wp, y, y_stride);
  }
}

}  // namespace

void MatMulRowsQ8_0Avx512(const WeightMatrix& w, const QuantizedActs& xq, float* y,
                          size_t y_stride, size_t row_begin, size_t row_end) {
  RowsQ8(w, xq, y, y_stride, row_begin, row_end);
}

bool CpuHasAvx512Dot() {
  // libgcc's CPU model also checks that the OS saves the zmm/opmask state (XCR0).
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
         __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512bf16") &&
         __builtin_cpu_supports("fma");  // F16C (vcvtph2ps) comes with every AVX-512F CPU
}

}  // namespace moe::detail

#else  // not x86-64 GCC/Clang: no intrinsic path

namespace moe::detail {
void MatMulRowsQ8_0Avx512(const WeightMatrix&, const QuantizedActs&, float*, size_t, size_t,
                          size_t) {}
bool CpuHasAvx512Dot() { return false; }
}  // namespace moe::detail

#endif
