// AVX-512 intrinsic bodies of the fast path of matmul.h: Q8_0 x Q8_0 with AVX512_VNNI
// vpdpbusd, BF16 x BF16 and FP8 x bf16 pairs with AVX512_BF16 vdpbf16ps, which Highway 1.0.3 cannot express
// (DESIGN.md item 7). Every function carries its own target attribute, so this file compiles
// without -m flags and the binary still runs on CPUs without these extensions; callers go
// through HasAvx512Dot() (CPUID) first.
//
// Both kernels block registers as the exact path does (kR = 4 weight rows x kT <= 4 tokens,
// one accumulator each) and walk passes of tokens sized for L2 (TokensPerPass).
#include "kernels/cpu/matmul_avx512.h"

#include <cstdint>
#include <utility>
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

// ---- BF16 x BF16 ----
// vdpbf16ps adds the products of each pair of adjacent bf16 lanes into one float lane; both
// operands use the same pairing, so the sum over lanes is the dot product. The last partial
// vector loads with a lane mask (zeros contribute nothing).
template <size_t kR, size_t kT>
MOE_AVX512_DOT void TileBf16(const WeightMatrix& w, size_t r0, const QuantizedActs& xq,
                             size_t t0, float* y, size_t y_stride) {
  const size_t cols = w.cols;
  const uint16_t* wr[kR];
  for (size_t r = 0; r < kR; ++r) wr[r] = static_cast<const uint16_t*>(w.Row(r0 + r));
  const uint16_t* xr[kT];
  for (size_t t = 0; t < kT; ++t) xr[t] = static_cast<const uint16_t*>(xq.Row(t0 + t));

  __m512 acc[kR][kT];
  for (size_t r = 0; r < kR; ++r)
    for (size_t t = 0; t < kT; ++t) acc[r][t] = _mm512_setzero_ps();

  for (size_t c = 0; c < cols; c += 32) {
    const __mmask32 m = cols - c >= 32 ? ~__mmask32{0} : (__mmask32{1} << (cols - c)) - 1;
    __m512bh wv[kR];
    for (size_t r = 0; r < kR; ++r) {
      if constexpr (kT <= 2) {  // decode: prefetch one row tile ahead, as the exact path
        _mm_prefetch(reinterpret_cast<const char*>(wr[r] + c) + kR * w.row_stride, _MM_HINT_T0);
      }
      wv[r] = reinterpret_cast<__m512bh>(_mm512_maskz_loadu_epi16(m, wr[r] + c));
    }
    for (size_t t = 0; t < kT; ++t) {
      const __m512bh xv = reinterpret_cast<__m512bh>(_mm512_maskz_loadu_epi16(m, xr[t] + c));
      for (size_t r = 0; r < kR; ++r) acc[r][t] = _mm512_dpbf16_ps(acc[r][t], wv[r], xv);
    }
  }
  StoreSums<kR, kT>(acc, y, y_stride, r0, t0);
}

// Tiles of kR rows over tokens [t0, t1): 4-token tiles, then one narrower tile.
template <size_t kR>
void RowTilesBf16(const WeightMatrix& w, size_t r0, const QuantizedActs& xq, size_t t0,
                  size_t t1, float* y, size_t y_stride) {
  size_t t = t0;
  for (; t + 4 <= t1; t += 4) TileBf16<kR, 4>(w, r0, xq, t, y, y_stride);
  switch (t1 - t) {
    case 3: TileBf16<kR, 3>(w, r0, xq, t, y, y_stride); break;
    case 2: TileBf16<kR, 2>(w, r0, xq, t, y, y_stride); break;
    case 1: TileBf16<kR, 1>(w, r0, xq, t, y, y_stride); break;
    default: break;
  }
}


// ---- FP8 (e4m3, 128x128 block scales) x BF16 ----
// 32 codes to bf16 in three integer ops: the sign-extended code shifted left by 4 holds the
// sign in bit 15 and exponent and mantissa in bits 10..4; keeping those and setting bit 14
// makes a bf16 with exponent e + 128, i.e. v · 2^8 exactly (2^-8 is folded into the block
// scale). This holds for exponent 1..15 and not NaN. Exponent-0 codes (zero and subnormals,
// v = m · 2^-9, so v · 2^8 = m / 2: 0, 0.5, .., 3.5, all exact in bf16) decode through a
// table in blocks that hold one (three more ops per 32 codes there; a per-block scan finds
// them), and blocks with a NaN code take a scalar loop over the float32 activations, so that
// NaN propagates. Per block, products are summed unscaled and scaled once; two tokens per
// tile leave registers for the per-block sums.

// Which codes of a block need more than the three-op decode: u = (code + 1) mod 128 is 0 for
// NaN and 1..8 for exponent 0. Bit 0: an exponent-0 code; bit 1: a NaN code.
MOE_AVX512_DOT inline unsigned F8Special(const uint8_t* p, size_t n) {
  __mmask64 exp0 = 0, nan = 0;
  size_t c = 0;
  for (; c + 64 <= n; c += 64) {
    const __m512i u = _mm512_and_si512(_mm512_add_epi8(_mm512_loadu_si512(p + c), _mm512_set1_epi8(1)),
                                       _mm512_set1_epi8(0x7F));
    exp0 |= _mm512_cmple_epu8_mask(u, _mm512_set1_epi8(8));
    nan |= _mm512_testn_epi8_mask(u, u);
  }
  unsigned kinds = (exp0 != 0 ? 1u : 0u) | (nan != 0 ? 2u : 0u);
  for (; c < n; ++c) {
    const unsigned u = (p[c] + 1u) & 0x7F;
    kinds |= (u >= 1 && u <= 8 ? 1u : 0u) | (u == 0 ? 2u : 0u);
  }
  return kinds;
}

// 32 sign-extended codes (no NaN) to bf16 bits of v · 2^8. kExp0: lanes with exponent 0 take
// sign | table[m] (q's low five bits are the mantissa there) instead of the normal decode.
template <bool kExp0>
MOE_AVX512_DOT inline __m512i F8ToBf16(__m512i q) {
  const __m512i shifted = _mm512_slli_epi16(q, 4);
  __m512i keep = _mm512_set1_epi16(static_cast<short>(0x87F0)), set = _mm512_set1_epi16(0x4000);
  if constexpr (kExp0) {
    // bf16 of m / 2 for m = 0..7 (lanes 8..31 unused).
    const __m512i table = _mm512_setr_epi32(0x3F000000, 0x3FC03F80, 0x40204000, 0x40604040, 0, 0, 0, 0,
                                            0, 0, 0, 0, 0, 0, 0, 0);
    const __mmask32 exp0 = _mm512_testn_epi16_mask(q, _mm512_set1_epi16(0x78));
    keep = _mm512_mask_mov_epi16(keep, exp0, _mm512_set1_epi16(static_cast<short>(0x8000)));
    set = _mm512_mask_permutexvar_epi16(set, exp0, q, table);
  }
  // (shifted & keep) | set in one ternary op: imm 0xEA = (a & b) | c.
  return _mm512_ternarylogic_epi32(shifted, keep, set, 0xEA);
}

// One pass of float32 activations split into two bf16 rows per token, x = hi + lo + e with
// hi = bf16(x), lo = bf16(x - hi), |e| <= 2^-16 |x|: 16 significant bits, more than fp16's 11,
// where bf16 alone (8) moved the kit's deepseek2-fp8 logits by up to 0.16 against float32
// references (the kit allows 0.05 for engines computing in 16 bits). The products of hi and
// of lo with the bf16 weights are exact; each costs one vdpbf16ps.
struct F8SplitActs {
  std::vector<uint16_t> x;  // [token][2][cols]: hi row, then lo row
  size_t cols = 0;
  const uint16_t* Hi(size_t t) const { return x.data() + 2 * t * cols; }
  const uint16_t* Lo(size_t t) const { return Hi(t) + cols; }
};

MOE_AVX512_DOT void SplitActs(const QuantizedActs& xq, size_t t0, size_t t1, F8SplitActs& sa) {
  const size_t cols = xq.cols;
  sa.cols = cols;
  sa.x.resize(2 * (t1 - t0) * cols);
  for (size_t t = t0; t < t1; ++t) {
    const auto* x = static_cast<const float*>(xq.Row(t));
    uint16_t* hi = sa.x.data() + 2 * (t - t0) * cols;
    uint16_t* lo = hi + cols;
    for (size_t c = 0; c < cols; c += 16) {
      const __mmask16 m = cols - c >= 16 ? __mmask16{0xFFFF} : static_cast<__mmask16>((1u << (cols - c)) - 1);
      const __m512 v = _mm512_maskz_loadu_ps(m, x + c);
      const __m256i h = reinterpret_cast<__m256i>(_mm512_cvtneps_pbh(v));
      const __m512 hv = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
      const __m256i l = reinterpret_cast<__m256i>(_mm512_cvtneps_pbh(_mm512_sub_ps(v, hv)));
      _mm256_mask_storeu_epi16(hi + c, m, h);
      _mm256_mask_storeu_epi16(lo + c, m, l);
    }
  }
}

// The operand rows of an FP8 tile: kR weight rows from r0 with their block-scale rows, and kT
// tokens from t0 of the pass: split rows (hi, lo) and the float32 rows (xq's t0 is the
// pass's first token plus t0).
template <size_t kR, size_t kT>
struct F8TileRows {
  const uint8_t* w[kR];
  const float* s[kR];
  const uint16_t* hi[kT];
  const uint16_t* lo[kT];
  const float* xf[kT];
  F8TileRows(const WeightMatrix& m, size_t r0, const F8SplitActs& sa, const QuantizedActs& xq, size_t pass0,
             size_t t0) {
    for (size_t r = 0; r < kR; ++r) {
      w[r] = static_cast<const uint8_t*>(m.Row(r0 + r));
      s[r] = m.RowScales(r0 + r);
    }
    for (size_t t = 0; t < kT; ++t) {
      hi[t] = sa.Hi(t0 + t);
      lo[t] = sa.Lo(t0 + t);
      xf[t] = static_cast<const float*>(xq.Row(pass0 + t0 + t));
    }
  }
};

// Products of one 128-column block (n columns from c0) into part, decoded with F8ToBf16<kExp0>;
// kFull: n = 128, plain loads (the code load folds into the sign extension).
template <bool kFull, bool kExp0, size_t kR, size_t kT>
MOE_AVX512_DOT inline void F8BlockProducts(const uint8_t* const* wr, const uint16_t* const* hi,
                                           const uint16_t* const* lo, size_t c0, size_t n, __m512 (&part)[kR][kT]) {
  for (size_t c = c0; c < c0 + (kFull ? kF8Block : n); c += 32) {
    const size_t left = c0 + n - c;
    const __mmask32 m = kFull || left >= 32 ? ~__mmask32{0} : (__mmask32{1} << left) - 1;
    __m512bh wv[kR];
    // Masked-off lanes decode from code 0 (2^8 or 0); the activations there are zero.
    for (size_t r = 0; r < kR; ++r) {
      const __m256i codes = kFull ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wr[r] + c))
                                  : _mm256_maskz_loadu_epi8(m, wr[r] + c);
      wv[r] = reinterpret_cast<__m512bh>(F8ToBf16<kExp0>(_mm512_cvtepi8_epi16(codes)));
    }
    for (size_t t = 0; t < kT; ++t) {
      const __m512bh xh = reinterpret_cast<__m512bh>(kFull ? _mm512_loadu_si512(hi[t] + c)
                                                           : _mm512_maskz_loadu_epi16(m, hi[t] + c));
      const __m512bh xl = reinterpret_cast<__m512bh>(kFull ? _mm512_loadu_si512(lo[t] + c)
                                                           : _mm512_maskz_loadu_epi16(m, lo[t] + c));
      for (size_t r = 0; r < kR; ++r) part[r][t] = _mm512_dpbf16_ps(_mm512_dpbf16_ps(part[r][t], wv[r], xh), wv[r], xl);
    }
  }
}

// Whether any of the kR rows' full 128-column blocks at c0 holds an exponent-0 or NaN code:
// the smallest u = (code + 1) mod 128 over all of them is 8 or less (F8Special tells which).
template <size_t kR>
MOE_AVX512_DOT inline bool F8AnySpecial(const uint8_t* const* wr, size_t c0) {
  const __m512i one = _mm512_set1_epi8(1), low7 = _mm512_set1_epi8(0x7F);
  __m512i m = low7;
  for (size_t r = 0; r < kR; ++r)
    for (size_t c = 0; c < kF8Block; c += 64)
      m = _mm512_min_epu8(m, _mm512_and_si512(_mm512_add_epi8(_mm512_loadu_si512(wr[r] + c0 + c), one), low7));
  return _mm512_cmple_epu8_mask(m, _mm512_set1_epi8(8)) != 0;
}

// Rows r0.. against tokens t0.. of the pass that starts at xq's token pass0 (split in sa),
// into y's rows t0.. (y starts at the pass's first token). `ahead`: bytes from a row to the
// row whose block it prefetches into L2 (0: none).
template <size_t kR, size_t kT>
MOE_AVX512_DOT void TileF8(const WeightMatrix& w, size_t r0, const F8SplitActs& sa, const QuantizedActs& xq,
                           size_t pass0, size_t t0, float* y, size_t y_stride, size_t ahead) {
  const size_t cols = w.cols;
  const F8TileRows<kR, kT> rows(w, r0, sa, xq, pass0, t0);
  const uint8_t* const* wr = rows.w;
  const float* const* sr = rows.s;

  __m512 acc[kR][kT];
  for (size_t r = 0; r < kR; ++r)
    for (size_t t = 0; t < kT; ++t) acc[r][t] = _mm512_setzero_ps();
  float extra[kR][kT] = {};  // NaN blocks, summed in scalar float

  for (size_t c0 = 0, b = 0; c0 < cols; c0 += kF8Block, ++b) {
    const size_t n = cols - c0 < kF8Block ? cols - c0 : kF8Block;
    if (ahead != 0)
      for (size_t r = 0; r < kR; ++r) {
        _mm_prefetch(reinterpret_cast<const char*>(wr[r] + c0) + ahead, _MM_HINT_T1);
        _mm_prefetch(reinterpret_cast<const char*>(wr[r] + c0) + 64 + ahead, _MM_HINT_T1);
      }
    const bool full = n == kF8Block;
    unsigned kinds = 0;
    if (!full || F8AnySpecial<kR>(wr, c0))
      for (size_t r = 0; r < kR; ++r) kinds |= F8Special(wr[r] + c0, n);
    if (kinds & 2u) {
      for (size_t r = 0; r < kR; ++r)
        for (size_t t = 0; t < kT; ++t) {
          float sum = 0;
          for (size_t c = c0; c < c0 + n; ++c) sum += F8E4M3ToF32(wr[r][c]) * sr[r][b] * rows.xf[t][c];
          extra[r][t] += sum;
        }
      continue;
    }
    __m512 part[kR][kT];
    for (size_t r = 0; r < kR; ++r)
      for (size_t t = 0; t < kT; ++t) part[r][t] = _mm512_setzero_ps();
    if (!full) {
      if (kinds & 1u) {
        F8BlockProducts<false, true>(wr, rows.hi, rows.lo, c0, n, part);
      } else {
        F8BlockProducts<false, false>(wr, rows.hi, rows.lo, c0, n, part);
      }
    } else if (kinds & 1u) {
      F8BlockProducts<true, true>(wr, rows.hi, rows.lo, c0, n, part);
    } else {
      F8BlockProducts<true, false>(wr, rows.hi, rows.lo, c0, n, part);
    }
    for (size_t r = 0; r < kR; ++r) {
      const __m512 vs = _mm512_set1_ps(sr[r][b] * (1.0f / 256));
      for (size_t t = 0; t < kT; ++t) acc[r][t] = _mm512_fmadd_ps(part[r][t], vs, acc[r][t]);
    }
  }
  for (size_t t = 0; t < kT; ++t)
    for (size_t r = 0; r < kR; ++r) y[(t0 + t) * y_stride + r0 + r] = _mm512_reduce_add_ps(acc[r][t]) + extra[r][t];
}

// Tiles of kR rows over the pass's tokens [0, n): 2-token tiles, then one single-token tile.
// The first tile prefetches kDecodePrefetchRows ahead (the others find the rows in cache).
template <size_t kR>
void RowTilesF8(const WeightMatrix& w, size_t r0, size_t row_end, const F8SplitActs& sa, const QuantizedActs& xq,
                size_t pass0, size_t n, float* y, size_t y_stride) {
  size_t ahead = PrefetchOffset(kDecodePrefetchRows, kR, r0, row_end, w.row_stride);
  size_t t = 0;
  for (; t + 2 <= n; t += 2) TileF8<kR, 2>(w, r0, sa, xq, pass0, t, y, y_stride, std::exchange(ahead, 0));
  if (t < n) TileF8<kR, 1>(w, r0, sa, xq, pass0, t, y, y_stride, ahead);
}

// Passes of tokens whose split activations stay in cache; per pass, 4-row tiles then single
// rows, each over the pass's tokens.
void RowsF8(const WeightMatrix& w, const QuantizedActs& xq, float* y, size_t y_stride,
            size_t row_begin, size_t row_end) {
  const size_t pass = TokensPerPass(xq.cols + 1, xq.n_tokens);
  thread_local F8SplitActs sa;
  for (size_t t0 = 0; t0 < xq.n_tokens; t0 += pass) {
    const size_t t1 = t0 + pass < xq.n_tokens ? t0 + pass : xq.n_tokens;
    SplitActs(xq, t0, t1, sa);
    float* yp = y + t0 * y_stride;
    size_t r = row_begin;
    for (; r + 4 <= row_end; r += 4) RowTilesF8<4>(w, r, row_end, sa, xq, t0, t1 - t0, yp, y_stride);
    for (; r < row_end; ++r) RowTilesF8<1>(w, r, row_end, sa, xq, t0, t1 - t0, yp, y_stride);
  }
}

// Passes of tokens whose bf16 activations stay in cache, as in the exact path; per pass,
// 4-row tiles then single rows, each over the pass's tokens. One indirect call per tile.
using RowTilesFn = void (*)(const WeightMatrix&, size_t, const QuantizedActs&, size_t, size_t, float*, size_t);
void RowPassesBf16Acts(const WeightMatrix& w, const QuantizedActs& xq, float* y, size_t y_stride, size_t row_begin,
                       size_t row_end, RowTilesFn four_rows, RowTilesFn one_row) {
  const size_t pass = TokensPerPass(ActsRowBytes(xq.dtype, xq.cols) / sizeof(float) + 1, xq.n_tokens);
  for (size_t t0 = 0; t0 < xq.n_tokens; t0 += pass) {
    const size_t t1 = t0 + pass < xq.n_tokens ? t0 + pass : xq.n_tokens;
    size_t r = row_begin;
    for (; r + 4 <= row_end; r += 4) four_rows(w, r, xq, t0, t1, y, y_stride);
    for (; r < row_end; ++r) one_row(w, r, xq, t0, t1, y, y_stride);
  }
}

void RowsBf16(const WeightMatrix& w, const QuantizedActs& xq, float* y, size_t y_stride,
              size_t row_begin, size_t row_end) {
  RowPassesBf16Acts(w, xq, y, y_stride, row_begin, row_end, RowTilesBf16<4>, RowTilesBf16<1>);
}

}  // namespace

void MatMulRowsQ8_0Avx512(const WeightMatrix& w, const QuantizedActs& xq, float* y,
                          size_t y_stride, size_t row_begin, size_t row_end) {
  RowsQ8(w, xq, y, y_stride, row_begin, row_end);
}

void MatMulRowsBf16Avx512(const WeightMatrix& w, const QuantizedActs& xq, float* y,
                          size_t y_stride, size_t row_begin, size_t row_end) {
  RowsBf16(w, xq, y, y_stride, row_begin, row_end);
}

void MatMulRowsF8Avx512(const WeightMatrix& w, const QuantizedActs& xq, float* y,
                        size_t y_stride, size_t row_begin, size_t row_end) {
  RowsF8(w, xq, y, y_stride, row_begin, row_end);
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
void MatMulRowsBf16Avx512(const WeightMatrix&, const QuantizedActs&, float*, size_t, size_t,
                          size_t) {}
void MatMulRowsF8Avx512(const WeightMatrix&, const QuantizedActs&, float*, size_t, size_t,
                        size_t) {}
bool CpuHasAvx512Dot() { return false; }
}  // namespace moe::detail

#endif
