// FP8 e4m3 weights (128x128 block scales) x fp16 activations with AVX512_FP16 (Sapphire Rapids
// and later): the fast path of matmul.h for FP8 where the CPU has it. Highway 1.0.3 has no
// fp16 arithmetic, so this is intrinsics, with its own target attribute (no -m flags); callers
// check HasAvx512Fp16() (CPUID) first.
//
// Why fp16: an e4m3 code becomes the fp16 bits of v · 2^-8 with one shift and one AND (bias 7
// vs 15; subnormal codes land on fp16 subnormals, zero on zero, so every code but NaN decodes
// exactly), and vfmadd231ph does 32 products per instruction, twice float32's. Per 32 weights
// the loop issues a sign-extending load, a shift, an AND and one fp16 FMA per token, against
// four decodes and four FMAs on the float32 path: FP8 decode becomes memory bound like Q8_0.
//
// Block scales move to the activations: the 128 rows of one block row share their column-
// block scales s[b], so each pass of tokens is rescaled once per block row (cols products
// against the block row's 128 · cols weights), x' = fp16(x̂ · s[b] · 2^j), x̂ being the
// token's fp16 activations and 2^j a power of two that brings max |x'| into [2^9, 2^10).
// The loop then has no scale in it: products are summed in fp16 over 512 columns (16 FMAs
// per lane, then the two 256-bit halves are added; at most 2 · 16 · 1.75 · 2^10 < 2^16, so
// nothing overflows) and only then widened to float32. Against the per-block widening with a
// scale FMA this took FP8 decode from 0.84-0.91x to 0.88-0.95x Q8_0's speed on 1024-column
// rows and from 0.93-1.06x to 0.97-1.07x on DeepSeek-V3's 2048x7168 and 7168x2048 (cold,
// 2 threads, moe_bench_kernels decode-fast / gemv-fast, alternating runs).
//
// Precision: x̂ is rounded to fp16 (11 significant bits, finer than bf16's 8) and x' once
// more; each product then takes part in at most 17 fp16 roundings of its partial sum (16
// FMAs and the halves' add), each 2^-11 relative, before the float32 sum. A token's result
// depends only on its own activations: the same in a batch as alone. NaN codes (0x7F/0xFF)
// decode as ±1.875 · 2^8 here: the exact path gives NaN for them.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "kernels/cpu/matmul_avx512.h"
#include "kernels/cpu/matmul_common.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#include <immintrin.h>

#define MOE_AVX512_FP16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512fp16,f16c,fma")))

namespace moe::detail {
namespace {

// The two fp16 instructions on integer vectors. Clang 14 declares the AVX512_FP16 intrinsics
// (and _Float16) only for files compiled with -mavx512fp16, which would let the compiler use
// AVX-512 in this file's inline functions shared with other files, so there they are inline
// assembly; GCC has the intrinsics, which schedule better (opaque asm measured 0.75x).
// acc + a · b, 32 fp16 lanes (vfmadd231ph).
MOE_AVX512_FP16 inline __m512i FmaPh(__m512i acc, __m512i a, __m512i b) {
#if defined(__clang__) && __clang_major__ < 15
  asm("vfmadd231ph %[b], %[a], %[acc]" : [acc] "+v"(acc) : [a] "v"(a), [b] "v"(b));
  return acc;
#else
  return _mm512_castph_si512(
      _mm512_fmadd_ph(_mm512_castsi512_ph(a), _mm512_castsi512_ph(b), _mm512_castsi512_ph(acc)));
#endif
}
// a + b, 16 fp16 lanes (vaddph).
MOE_AVX512_FP16 inline __m256i AddPh(__m256i a, __m256i b) {
#if defined(__clang__) && __clang_major__ < 15
  asm("vaddph %[b], %[a], %[a]" : [a] "+v"(a) : [b] "v"(b));
  return a;
#else
  return _mm256_castph_si256(_mm256_add_ph(_mm256_castsi256_ph(a), _mm256_castsi256_ph(b)));
#endif
}

// Products of 32 columns from c (lanes outside mask m are zero; kFull: all 32 lanes, plain
// loads) added to the fp16 block sums.
template <bool kFull, size_t kR, size_t kT>
MOE_AVX512_FP16 inline void Products(const uint8_t* const* wr, const uint16_t* const* xr, size_t c,
                                     __mmask32 m, __m512i (&part)[kR][kT]) {
  const __m512i keep = _mm512_set1_epi16(static_cast<short>(0xBF80));
  __m512i wv[kR];
  for (size_t r = 0; r < kR; ++r) {
    // Sign-extended, so after << 7 bits 15 and 14 both hold the sign: keep bit 15 and the
    // seven exponent/mantissa bits (13..7). Masked-off lanes are code 0, i.e. +0.
    const __m256i codes = kFull ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wr[r] + c))
                                : _mm256_maskz_loadu_epi8(m, wr[r] + c);
    const __m512i q = _mm512_cvtepi8_epi16(codes);
    wv[r] = _mm512_and_si512(_mm512_slli_epi16(q, 7), keep);
  }
  for (size_t t = 0; t < kT; ++t) {
    const __m512i xv = kFull ? _mm512_loadu_si512(xr[t] + c) : _mm512_maskz_loadu_epi16(m, xr[t] + c);
    for (size_t r = 0; r < kR; ++r) part[r][t] = FmaPh(part[r][t], wv[r], xv);
  }
}

// Columns from the block in use to the block a decode tile prefetches into L1 (4-6 blocks
// measured alike; 12 slower).
constexpr size_t kL1Ahead = 5 * kF8Block;

// Products are summed in fp16 over kSumCols columns (16 FMAs per lane), then the two 256-bit
// halves are added and widened to float32. With block-scaled activations below 2^10 and
// decoded weights below 1.75 that sum stays below 2 · 16 · 1.75 · 2^10 = 57344 < 65504.
constexpr size_t kSumCols = 4 * kF8Block;
constexpr int kScaledActsExp = 10;  // max |x'| in [2^9, 2^10)
static_assert(2.0 * (kSumCols / 32) * 1.75 * (1 << kScaledActsExp) < 65504.0, "fp16 sums overflow");

// The activations of one pass of tokens, multiplied by the column-block scales of one block
// row of weights: x'[t][c] = fp16(x̂[t][c] · s[c / 128] · 2^j[t]), zero from cols to the row
// stride (a multiple of 32), and inv[t] = ActsScale(t) · 2^(8 - j[t]), which undoes the
// token's scale and both powers of two (the weights decode as v · 2^-8).
struct ScaledActs {
  std::vector<uint16_t> x;
  std::vector<float> inv;
  std::vector<float> block_max;  // [token][column block]: max |x| of the kF16 row
  size_t stride = 0, n_blocks = 0;
};

MOE_AVX512_FP16 void BlockMaxima(const QuantizedActs& xq, size_t t0, size_t t1, ScaledActs& sa) {
  const size_t cols = xq.cols;
  const __m512i abs_bits = _mm512_set1_epi16(0x7FFF);
  for (size_t t = t0; t < t1; ++t) {
    const auto* x = static_cast<const uint16_t*>(xq.Row(t));
    for (size_t b = 0; b < sa.n_blocks; ++b) {
      // |x| as fp16 bits orders like the values; a NaN's bits exceed inf's and stay NaN.
      __m512i m = _mm512_setzero_si512();
      for (size_t c = b * kF8Block; c < cols && c < (b + 1) * kF8Block; c += 32) {
        const size_t left = cols - c;
        const __mmask32 k = left >= 32 ? ~__mmask32{0} : (__mmask32{1} << left) - 1;
        m = _mm512_max_epu16(m, _mm512_and_si512(_mm512_maskz_loadu_epi16(k, x + c), abs_bits));
      }
      const __m256i m16 = _mm256_max_epu16(_mm512_castsi512_si256(m), _mm512_extracti64x4_epi64(m, 1));
      const __m128i m8 = _mm_max_epu16(_mm256_castsi256_si128(m16), _mm256_extracti128_si256(m16, 1));
      const __m128i m4 = _mm_max_epu16(m8, _mm_srli_si128(m8, 8));
      const __m128i m2 = _mm_max_epu16(m4, _mm_srli_si128(m4, 4));
      const __m128i m1 = _mm_max_epu16(m2, _mm_srli_si128(m2, 2));
      sa.block_max[(t - t0) * sa.n_blocks + b] = _mm_cvtss_f32(_mm_cvtph_ps(m1));
    }
  }
}

// x' for the block row whose scales are s (one per column block).
MOE_AVX512_FP16 void ScaleActsForBlockRow(const QuantizedActs& xq, size_t t0, size_t t1, const float* s,
                                          ScaledActs& sa) {
  const size_t cols = xq.cols;
  for (size_t t = t0; t < t1; ++t) {
    const size_t i = t - t0;
    float m = 0;
    for (size_t b = 0; b < sa.n_blocks; ++b) m = std::max(m, sa.block_max[i * sa.n_blocks + b] * std::fabs(s[b]));
    int e = 0;  // m = f · 2^e with f in [0.5, 1); all-zero or non-finite rows keep j = 0
    if (m > 0 && std::isfinite(m)) std::frexp(m, &e);
    const int j = m > 0 && std::isfinite(m) ? std::clamp(kScaledActsExp - e, -100, 100) : 0;
    sa.inv[i] = ActsScale(xq, t) * std::ldexp(1.0f, 8 - j);
    const auto* x = static_cast<const uint16_t*>(xq.Row(t));
    uint16_t* out = sa.x.data() + i * sa.stride;
    for (size_t b = 0; b < sa.n_blocks; ++b) {
      const __m512 f = _mm512_set1_ps(std::ldexp(s[b], j));
      for (size_t c = b * kF8Block; c < cols && c < (b + 1) * kF8Block; c += 16) {
        const size_t left = cols - c;
        const __mmask16 k = left >= 16 ? __mmask16{0xFFFF} : static_cast<__mmask16>((1u << left) - 1);
        const __m512 v = _mm512_mul_ps(_mm512_cvtph_ps(_mm256_maskz_loadu_epi16(k, x + c)), f);
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + c), _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT));
      }
    }
    std::fill(out + (cols + 15) / 16 * 16, out + sa.stride, uint16_t{0});
  }
}

// A decode tile's prefetches at column block c0: the block's two cache lines per row in the
// next tile (`ahead` bytes on; 0: none), into L2; and the block kL1Ahead columns on in the
// same rows, into L1 (the hardware streams rows 1-7 KB apart less eagerly): 0.94-0.97x the
// time of L2 alone on DeepSeek-V3 shapes, cold. The L1 prefetch stays within the tile:
// running on into the next tile's rows measured slower. always_inline: GCC 12 finds a
// function of prefetches only free of effects and deletes its calls before inlining.
template <size_t kR>
MOE_AVX512_FP16 __attribute__((always_inline)) inline void Prefetch(const uint8_t* const* wr, size_t c0,
                                                                   size_t cols, size_t ahead) {
  for (size_t r = 0; ahead != 0 && r < kR; ++r) {
    _mm_prefetch(reinterpret_cast<const char*>(wr[r] + c0) + ahead, _MM_HINT_T1);
    _mm_prefetch(reinterpret_cast<const char*>(wr[r] + c0) + 64 + ahead, _MM_HINT_T1);
  }
  for (size_t r = 0; c0 + kL1Ahead < cols && r < kR; ++r) {
    _mm_prefetch(reinterpret_cast<const char*>(wr[r] + c0 + kL1Ahead), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(wr[r] + c0 + kL1Ahead) + 64, _MM_HINT_T0);
  }
}

// Rows r0.. (one block row) against the pass's scaled activations t0.., into y's rows t0..
// (y starts at the pass's first token). `ahead`: bytes from a row to the row it prefetches
// (0: none).
template <size_t kR, size_t kT>
MOE_AVX512_FP16 void TileF8Fp16(const WeightMatrix& w, size_t r0, const ScaledActs& sa, size_t t0,
                                float* y, size_t y_stride, size_t ahead) {
  const size_t cols = w.cols;
  const uint8_t* wr[kR];
  for (size_t r = 0; r < kR; ++r) wr[r] = static_cast<const uint8_t*>(w.Row(r0 + r));
  const uint16_t* xr[kT];
  for (size_t t = 0; t < kT; ++t) xr[t] = sa.x.data() + (t0 + t) * sa.stride;

  __m512 acc[kR][kT];
  for (size_t r = 0; r < kR; ++r)
    for (size_t t = 0; t < kT; ++t) acc[r][t] = _mm512_setzero_ps();

  for (size_t c0 = 0; c0 < cols; c0 += kSumCols) {
    const size_t end = cols - c0 < kSumCols ? cols : c0 + kSumCols;
    __m512i part[kR][kT];  // fp16 lanes
    for (size_t r = 0; r < kR; ++r)
      for (size_t t = 0; t < kT; ++t) part[r][t] = _mm512_setzero_si512();
    size_t c = c0;
    for (; c + kF8Block <= end; c += kF8Block) {
      if (kT <= 2) Prefetch<kR>(wr, c, cols, ahead);
      for (size_t k = 0; k < kF8Block; k += 32) Products<true, kR, kT>(wr, xr, c + k, 0, part);
    }
    if (kT <= 2 && c < end) Prefetch<kR>(wr, c, cols, ahead);
    for (; c < end; c += 32) {
      const size_t left = end - c;
      Products<false, kR, kT>(wr, xr, c, left >= 32 ? ~__mmask32{0} : (__mmask32{1} << left) - 1, part);
    }
    for (size_t r = 0; r < kR; ++r)
      for (size_t t = 0; t < kT; ++t) {
        const __m256i half = AddPh(_mm512_castsi512_si256(part[r][t]), _mm512_extracti64x4_epi64(part[r][t], 1));
        acc[r][t] = _mm512_add_ps(acc[r][t], _mm512_cvtph_ps(half));
      }
  }
  for (size_t t = 0; t < kT; ++t)
    for (size_t r = 0; r < kR; ++r) y[(t0 + t) * y_stride + r0 + r] = _mm512_reduce_add_ps(acc[r][t]) * sa.inv[t0 + t];
}

// Tiles of kR rows over the pass's tokens [0, n): 3-token tiles (4 x 3 fp16 sums and float
// accumulators fill 24 of the 32 registers), then one narrower tile.
template <size_t kR>
void RowTilesF8Fp16(const WeightMatrix& w, size_t r0, size_t row_end, const ScaledActs& sa, size_t n,
                    float* y, size_t y_stride) {
  const size_t ahead = PrefetchOffset(kR, kR, r0, row_end, w.row_stride);  // the next tile
  size_t t = 0;
  for (; t + 3 <= n; t += 3) TileF8Fp16<kR, 3>(w, r0, sa, t, y, y_stride, 0);
  if (n - t == 2) TileF8Fp16<kR, 2>(w, r0, sa, t, y, y_stride, ahead);
  if (n - t == 1) TileF8Fp16<kR, 1>(w, r0, sa, t, y, y_stride, ahead);
}

MOE_AVX512_FP16 void ToF16Row(const float* x, size_t cols, float scale, uint16_t* out) {
  const __m512 vs = _mm512_set1_ps(scale);
  size_t c = 0;
  for (; c + 16 <= cols; c += 16) {
    const __m512 v = _mm512_mul_ps(_mm512_loadu_ps(x + c), vs);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + c), _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT));
  }
  if (c < cols) {
    const __mmask16 m = static_cast<__mmask16>((1u << (cols - c)) - 1);
    const __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + c), vs);
    _mm256_mask_storeu_epi16(out + c, m, _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT));
  }
}

}  // namespace

void MatMulRowsF8Fp16(const WeightMatrix& w, const QuantizedActs& xq, float* y, size_t y_stride,
                      size_t row_begin, size_t row_end) {
  // Passes of tokens whose activations stay in L2 next to the rows being reused.
  const size_t pass = TokensPerPass(xq.cols / 2 + 1, xq.n_tokens);
  thread_local ScaledActs sa;
  sa.n_blocks = (w.cols + kF8Block - 1) / kF8Block;
  sa.stride = (w.cols + 31) / 32 * 32;
  sa.x.resize(pass * sa.stride);
  sa.inv.resize(pass);
  sa.block_max.resize(pass * sa.n_blocks);
  for (size_t t0 = 0; t0 < xq.n_tokens; t0 += pass) {
    const size_t t1 = t0 + pass < xq.n_tokens ? t0 + pass : xq.n_tokens, n = t1 - t0;
    BlockMaxima(xq, t0, t1, sa);
    // One block row of weights at a time: its rows share the column-block scales that the
    // activations take on.
    for (size_t a = row_begin; a < row_end;) {
      const size_t b = w.ScaleBlockEnd(a, row_end);
      ScaleActsForBlockRow(xq, t0, t1, w.RowScales(a), sa);
      // 4-row tiles, also in decode: 8-row decode tiles measured 0.90-0.95x their speed
      // (cold, 2 threads, 7168x2048 and 4096x1024), on fp16 sums this long.
      size_t r = a;
      float* yp = y + t0 * y_stride;
      for (; r + 4 <= b; r += 4) RowTilesF8Fp16<4>(w, r, row_end, sa, n, yp, y_stride);
      for (; r < b; ++r) RowTilesF8Fp16<1>(w, r, row_end, sa, n, yp, y_stride);
      a = b;
    }
  }
}

bool ToF16RowAvx512(const float* x, size_t cols, float scale, uint16_t* out) {
  if (!CpuHasAvx512Fp16()) return false;
  ToF16Row(x, cols, scale, out);
  return true;
}

bool CpuHasAvx512Fp16() {
  static const bool has = [] {
    // libgcc's CPU model checks that the OS saves the zmm/opmask state; the AVX512_FP16 bit
    // (CPUID leaf 7, EDX bit 23) is read directly, as clang 14's model does not know it.
    __builtin_cpu_init();
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    const bool fp16 = __get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx) && (edx >> 23 & 1) != 0;
    return fp16 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("fma");
  }();
  return has;
}

}  // namespace moe::detail

#else  // not x86-64 GCC/Clang: no intrinsic path

namespace moe::detail {
void MatMulRowsF8Fp16(const WeightMatrix&, const QuantizedActs&, float*, size_t, size_t, size_t) {}
bool ToF16RowAvx512(const float*, size_t, float, uint16_t*) { return false; }
bool CpuHasAvx512Fp16() { return false; }
}  // namespace moe::detail

#endif
