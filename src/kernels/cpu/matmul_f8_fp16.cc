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
// Precision: the activations are rounded to fp16 (11 significant bits, finer than bf16's 8)
// after scaling each token by a power of two that brings its largest |x| into [2^10, 2^11).
// Products are summed in fp16 over one 128-column block (four FMAs per lane, then the two
// 256-bit halves are added): at most 4 · 1.75 · 2^11 · 2 < 2^15 in magnitude, so nothing
// overflows, and each block's sum carries a relative rounding of a few 2^-11. Block sums are
// then widened and accumulated in float32 with the block scale, as on the other paths. NaN
// codes (0x7F/0xFF) decode as ±1.875 · 2^8 here: the exact path gives NaN for them.
#include <cstdint>
#include <cstring>

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

// `ahead`: bytes from a row to the row it prefetches (0: none).
template <size_t kR, size_t kT>
MOE_AVX512_FP16 void TileF8Fp16(const WeightMatrix& w, size_t r0, const QuantizedActs& xq,
                                size_t t0, float* y, size_t y_stride, size_t ahead) {
  const size_t cols = w.cols;
  const F8TileRows<kR, kT> rows(w, r0, xq, t0);
  const uint8_t* const* wr = rows.w;
  const float* const* sr = rows.s;
  const uint16_t* const* xr = rows.x;

  __m512 acc[kR][kT];
  for (size_t r = 0; r < kR; ++r)
    for (size_t t = 0; t < kT; ++t) acc[r][t] = _mm512_setzero_ps();

  for (size_t c0 = 0, b = 0; c0 < cols; c0 += kF8Block, ++b) {
    const size_t end = cols - c0 < kF8Block ? cols : c0 + kF8Block;
    if (kT <= 2) {
      // The block's two cache lines per row in the next tile, into L2; and the block
      // kL1Ahead columns on in the same rows, into L1 (the hardware streams rows 1-7 KB apart
      // less eagerly): 0.94-0.97x the time of L2 alone on DeepSeek-V3 shapes, cold. The L1
      // prefetch stays within the tile: running on into the next tile's rows measured slower.
      for (size_t r = 0; ahead != 0 && r < kR; ++r) {
        _mm_prefetch(reinterpret_cast<const char*>(wr[r] + c0) + ahead, _MM_HINT_T1);
        _mm_prefetch(reinterpret_cast<const char*>(wr[r] + c0) + 64 + ahead, _MM_HINT_T1);
      }
      for (size_t r = 0; c0 + kL1Ahead < cols && r < kR; ++r) {
        _mm_prefetch(reinterpret_cast<const char*>(wr[r] + c0 + kL1Ahead), _MM_HINT_T0);
        _mm_prefetch(reinterpret_cast<const char*>(wr[r] + c0 + kL1Ahead) + 64, _MM_HINT_T0);
      }
    }
    __m512i part[kR][kT];  // fp16 lanes
    for (size_t r = 0; r < kR; ++r)
      for (size_t t = 0; t < kT; ++t) part[r][t] = _mm512_setzero_si512();
    if (end - c0 == kF8Block) {
      for (size_t c = c0; c < end; c += 32) Products<true, kR, kT>(wr, xr, c, 0, part);
    } else {
      for (size_t c = c0; c < end; c += 32) {
        const size_t left = end - c;
        Products<false, kR, kT>(wr, xr, c, left >= 32 ? ~__mmask32{0} : (__mmask32{1} << left) - 1, part);
      }
    }
    for (size_t r = 0; r < kR; ++r) {
      const __m512 vs = _mm512_set1_ps(sr[r][b]);  // broadcast from memory: no shuffle port
      for (size_t t = 0; t < kT; ++t) {
        const __m256i half = AddPh(_mm512_castsi512_si256(part[r][t]), _mm512_extracti64x4_epi64(part[r][t], 1));
        acc[r][t] = _mm512_fmadd_ps(_mm512_cvtph_ps(half), vs, acc[r][t]);
      }
    }
  }
  for (size_t t = 0; t < kT; ++t) {
    const float inv = ActsScale(xq, t0 + t) * 256.0f;  // decoded weights are v · 2^-8
    for (size_t r = 0; r < kR; ++r) y[(t0 + t) * y_stride + r0 + r] = _mm512_reduce_add_ps(acc[r][t]) * inv;
  }
}

// Tiles of kR rows over tokens [t0, t1): 3-token tiles (4 x 3 fp16 block sums and float
// accumulators fill 24 of the 32 registers), then one narrower tile.
template <size_t kR>
void RowTilesF8Fp16(const WeightMatrix& w, size_t r0, size_t row_end, const QuantizedActs& xq,
                    size_t t0, size_t t1, float* y, size_t y_stride) {
  const size_t ahead = NextTileOffset(kR, r0, row_end, w.row_stride);
  size_t t = t0;
  for (; t + 3 <= t1; t += 3) TileF8Fp16<kR, 3>(w, r0, xq, t, y, y_stride, 0);
  if (t1 - t == 2) TileF8Fp16<kR, 2>(w, r0, xq, t, y, y_stride, ahead);
  if (t1 - t == 1) TileF8Fp16<kR, 1>(w, r0, xq, t, y, y_stride, ahead);
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
  for (size_t t0 = 0; t0 < xq.n_tokens; t0 += pass) {
    const size_t t1 = t0 + pass < xq.n_tokens ? t0 + pass : xq.n_tokens;
    size_t r = row_begin;
    if (t1 - t0 == 1)
      for (; r + 8 <= row_end; r += 8) TileF8Fp16<8, 1>(w, r, xq, t0, y, y_stride, NextTileOffset(8, r, row_end, w.row_stride));
    for (; r + 4 <= row_end; r += 4) RowTilesF8Fp16<4>(w, r, row_end, xq, t0, t1, y, y_stride);
    for (; r < row_end; ++r) RowTilesF8Fp16<1>(w, r, row_end, xq, t0, t1, y, y_stride);
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
