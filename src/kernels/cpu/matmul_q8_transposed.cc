// y = x · W for Q8_0 W (W's rows are the reduction; MLA applies W_UK this way) with
// AVX512_VNNI. The exact path widens every weight to float and spends four instructions per
// 16 products for one token; here 4 rows x 64 columns are interleaved into 4-byte groups per
// column (8 byte/word unpacks) and each token takes 4 vpdpbusd per 256 products.
//
// vpdpbusd needs the reduction inside the integer sum, but every (row, 32-column block) has
// its own scale d, so the scale moves to the activations: per token, a = x[r] · d[r, b] is
// rounded to int8 per 32 rows and column block (scale max|a| / 127, as Q8_0 rounds
// activations per 32 values), and y[c] = Σ_groups s[g, b] · Σ_r q_a[r] · q_w[r, c] with the
// inner sums exact in int32. The weights enter unsigned (q XOR 0x80 = q + 128), so each group
// starts from -128 · Σ_r q_a[r]. A token's result depends only on its own row of x.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "kernels/cpu/matmul_avx512.h"
#include "kernels/cpu/matmul_common.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#define MOE_AVX512_VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,f16c,fma")))

namespace moe::detail {
namespace {

constexpr size_t kGroupRows = 32;  // rows per activation scale
constexpr size_t kLanes = 16;      // column blocks per vector in the activation rounding
constexpr size_t kScaleAhead = 8;  // rows ScaleTable prefetches ahead

// One token's rounded activations: per row group g and column block b (nbp blocks, padded to
// a multiple of 16) the scale and the correction; per quad of rows k the four int8 values of
// each block packed in a dword (bytes in row order, as the weights are interleaved).
struct TokenActs {
  std::vector<float> scale;    // [groups][nbp]
  std::vector<int32_t> corr;   // [groups][nbp]: -128 · Σ_r q_a[r]
  std::vector<uint32_t> quad;  // [groups · 8][nbp]
};

struct Shape {
  size_t rows, nb, nbp, groups;
};

// d[r, b] as float, [groups · 32][nbp] (rows and blocks past the matrix are 0): one gather of
// 16 block headers (34 bytes apart) and one conversion per row and 16 blocks. In decode this
// is the first touch of each head's rows, and gathers waited on DRAM: prefetching 8 rows
// ahead took it from 6.4% to 3.8% of deepseek-v3-bench Q8_0 decode (share of the profile
// against the expert products', tg256; 16 rows ahead: 4.3%).
MOE_AVX512_VNNI void ScaleTable(const WeightMatrix& w, const Shape& s, float* d) {
  const __m512i offsets = _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                                             _mm512_set1_epi32(static_cast<int>(sizeof(BlockQ8_0))));
  for (size_t r = 0; r < s.groups * kGroupRows; ++r) {
    if (r + kScaleAhead < s.rows) {
      const char* ahead = static_cast<const char*>(w.Row(r + kScaleAhead));
      for (size_t o = 0; o < s.nb * sizeof(BlockQ8_0); o += 64) _mm_prefetch(ahead + o, _MM_HINT_T0);
    }
    for (size_t b0 = 0; b0 < s.nbp; b0 += kLanes) {
      __m512 v = _mm512_setzero_ps();
      if (r < s.rows && b0 < s.nb) {
        const size_t n = s.nb - b0 < kLanes ? s.nb - b0 : kLanes;
        const __mmask16 m = static_cast<__mmask16>((1u << n) - 1);
        const auto* base = static_cast<const BlockQ8_0*>(w.Row(r)) + b0;
        // Each dword's low half is a block's fp16 scale; the high half (the first two quants)
        // is dropped by the narrowing. The last block's dword ends inside its quants.
        const __m512i dw = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), m, offsets, base, 1);
        v = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(dw));
      }
      _mm512_storeu_ps(d + r * s.nbp + b0, v);
    }
  }
}

// Rounds token x (w.rows values) against the scale table into a.
MOE_AVX512_VNNI void RoundToken(const float* x, const Shape& s, const float* d, TokenActs& a) {
  const __m512 k127 = _mm512_set1_ps(127.0f);
  __m512 scaled[kGroupRows];
  for (size_t g = 0; g < s.groups; ++g) {
    for (size_t b0 = 0; b0 < s.nbp; b0 += kLanes) {
      __m512 amax = _mm512_setzero_ps();
      for (size_t i = 0; i < kGroupRows; ++i) {
        const size_t r = g * kGroupRows + i;
        const __m512 xr = _mm512_set1_ps(r < s.rows ? x[r] : 0.0f);
        scaled[i] = _mm512_mul_ps(xr, _mm512_loadu_ps(d + r * s.nbp + b0));
        amax = _mm512_max_ps(amax, _mm512_abs_ps(scaled[i]));
      }
      const __mmask16 nonzero = _mm512_cmp_ps_mask(amax, _mm512_setzero_ps(), _CMP_GT_OQ);
      const __m512 inv = _mm512_maskz_div_ps(nonzero, k127, amax);
      _mm512_storeu_ps(a.scale.data() + g * s.nbp + b0, _mm512_div_ps(amax, k127));
      __m512i sum = _mm512_setzero_si512();
      for (size_t k = 0; k < kGroupRows / 4; ++k) {
        __m128i b[4];
        for (size_t i = 0; i < 4; ++i) {
          const __m512i q = _mm512_cvtps_epi32(_mm512_mul_ps(scaled[4 * k + i], inv));
          sum = _mm512_add_epi32(sum, q);
          b[i] = _mm512_cvtepi32_epi8(q);
        }
        const __m128i ab_lo = _mm_unpacklo_epi8(b[0], b[1]), ab_hi = _mm_unpackhi_epi8(b[0], b[1]);
        const __m128i cd_lo = _mm_unpacklo_epi8(b[2], b[3]), cd_hi = _mm_unpackhi_epi8(b[2], b[3]);
        uint32_t* out = a.quad.data() + (g * kGroupRows / 4 + k) * s.nbp + b0;
        _mm_storeu_si128(reinterpret_cast<__m128i*>(out), _mm_unpacklo_epi16(ab_lo, cd_lo));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 4), _mm_unpackhi_epi16(ab_lo, cd_lo));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 8), _mm_unpacklo_epi16(ab_hi, cd_hi));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 12), _mm_unpackhi_epi16(ab_hi, cd_hi));
      }
      _mm512_storeu_si512(a.corr.data() + g * s.nbp + b0, _mm512_mullo_epi32(sum, _mm512_set1_epi32(-128)));
    }
  }
}

// Two consecutive 32-bit values at p: the first in lanes 0-7, the second in lanes 8-15 (the
// two column blocks of a 64-column step).
MOE_AVX512_VNNI inline __m512i PairBroadcast(const void* p) {
  const __m512i idx = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
  return _mm512_permutexvar_epi32(idx, _mm512_castsi128_si512(_mm_loadl_epi64(static_cast<const __m128i*>(p))));
}

// The quants of a row's blocks b and b + 1 (p: block b's first quant; kTwo false: b is the
// last block, the upper half is zero), XOR 0x80.
template <bool kTwo>
MOE_AVX512_VNNI inline __m512i LoadPair(const uint8_t* p) {
  const __m256i lo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  const __m256i hi = kTwo ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + sizeof(BlockQ8_0))) : _mm256_setzero_si256();
  return _mm512_xor_si512(_mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1), _mm512_set1_epi8(static_cast<char>(0x80)));
}

// Tokens acts[0..kT) over columns [64p, 64p + 64): y rows t, stride y_stride.
template <size_t kT, bool kTwo>
MOE_AVX512_VNNI void Step(const WeightMatrix& w, const Shape& s, const TokenActs* acts, size_t p,
                          float* y, size_t y_stride) {
  const size_t b = 2 * p;
  const uint8_t* q0 = static_cast<const uint8_t*>(w.Row(0)) + b * sizeof(BlockQ8_0) + offsetof(BlockQ8_0, qs);
  const size_t stride = w.row_stride;
  __m512 out[kT][4];
  for (size_t t = 0; t < kT; ++t)
    for (size_t j = 0; j < 4; ++j) out[t][j] = _mm512_setzero_ps();
  for (size_t g = 0; g < s.groups; ++g) {
    __m512i acc[kT][4];
    for (size_t t = 0; t < kT; ++t) {
      const __m512i c = PairBroadcast(acts[t].corr.data() + g * s.nbp + b);
      for (size_t j = 0; j < 4; ++j) acc[t][j] = c;
    }
    for (size_t k = g * kGroupRows / 4; k < (g + 1) * kGroupRows / 4; ++k) {
      const size_t r = 4 * k;
      if (r >= s.rows) break;
      // 4 rows x 64 columns -> per column its 4 bytes in row order. Within each 128-bit lane
      // (16 columns): u[j] holds columns 4j..4j+3 of the lane. Rows past the end load as any
      // bytes (0x80): their activation bytes are 0.
      __m512i v[4];
      for (size_t i = 0; i < 4; ++i)
        v[i] = r + i < s.rows ? LoadPair<kTwo>(q0 + (r + i) * stride) : _mm512_set1_epi8(static_cast<char>(0x80));
      const __m512i ab_lo = _mm512_unpacklo_epi8(v[0], v[1]), ab_hi = _mm512_unpackhi_epi8(v[0], v[1]);
      const __m512i cd_lo = _mm512_unpacklo_epi8(v[2], v[3]), cd_hi = _mm512_unpackhi_epi8(v[2], v[3]);
      const __m512i u[4] = {_mm512_unpacklo_epi16(ab_lo, cd_lo), _mm512_unpackhi_epi16(ab_lo, cd_lo),
                            _mm512_unpacklo_epi16(ab_hi, cd_hi), _mm512_unpackhi_epi16(ab_hi, cd_hi)};
      for (size_t t = 0; t < kT; ++t) {
        const __m512i xa = PairBroadcast(acts[t].quad.data() + k * s.nbp + b);
        for (size_t j = 0; j < 4; ++j) acc[t][j] = _mm512_dpbusd_epi32(acc[t][j], u[j], xa);
      }
    }
    for (size_t t = 0; t < kT; ++t) {
      const __m512 sc = _mm512_castsi512_ps(PairBroadcast(acts[t].scale.data() + g * s.nbp + b));
      for (size_t j = 0; j < 4; ++j) out[t][j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc[t][j]), sc, out[t][j]);
    }
  }
  // Lane 4L + m of out[j] is column 16L + 4j + m: a 4 x 4 transpose of 128-bit lanes.
  for (size_t t = 0; t < kT; ++t) {
    const __m512 t0 = _mm512_shuffle_f32x4(out[t][0], out[t][1], 0x44), t1 = _mm512_shuffle_f32x4(out[t][2], out[t][3], 0x44);
    const __m512 t2 = _mm512_shuffle_f32x4(out[t][0], out[t][1], 0xEE), t3 = _mm512_shuffle_f32x4(out[t][2], out[t][3], 0xEE);
    float* dst = y + t * y_stride + 64 * p;
    _mm512_storeu_ps(dst, _mm512_shuffle_f32x4(t0, t1, 0x88));
    _mm512_storeu_ps(dst + 16, _mm512_shuffle_f32x4(t0, t1, 0xDD));
    if (kTwo) {
      _mm512_storeu_ps(dst + 32, _mm512_shuffle_f32x4(t2, t3, 0x88));
      _mm512_storeu_ps(dst + 48, _mm512_shuffle_f32x4(t2, t3, 0xDD));
    }
  }
}

}  // namespace

void MatMulTransposedQ8_0Vnni(const WeightMatrix& w, const float* x, size_t x_stride, size_t n_tokens,
                              float* y, size_t y_stride) {
  Shape s;
  s.rows = w.rows;
  s.nb = w.cols / kQ8_0Block;
  s.nbp = (s.nb + kLanes - 1) / kLanes * kLanes;
  s.groups = (w.rows + kGroupRows - 1) / kGroupRows;
  thread_local std::vector<float> d;
  thread_local TokenActs acts[2];
  d.resize(s.groups * kGroupRows * s.nbp);
  for (TokenActs& a : acts) {
    a.scale.resize(s.groups * s.nbp);
    a.corr.resize(s.groups * s.nbp);
    a.quad.resize(s.groups * kGroupRows / 4 * s.nbp);
  }
  ScaleTable(w, s, d.data());
  // Tokens in pairs: the interleaved weights of a step serve both.
  for (size_t t = 0; t < n_tokens; t += 2) {
    const size_t kt = n_tokens - t >= 2 ? 2 : 1;
    for (size_t i = 0; i < kt; ++i) RoundToken(x + (t + i) * x_stride, s, d.data(), acts[i]);
    for (size_t p = 0; 2 * p < s.nb; ++p) {
      const bool two = 2 * p + 1 < s.nb;
      float* yt = y + t * y_stride;
      if (kt == 2) {
        two ? Step<2, true>(w, s, acts, p, yt, y_stride) : Step<2, false>(w, s, acts, p, yt, y_stride);
      } else {
        two ? Step<1, true>(w, s, acts, p, yt, y_stride) : Step<1, false>(w, s, acts, p, yt, y_stride);
      }
    }
  }
}

}  // namespace moe::detail

#else  // not x86-64 GCC/Clang: no intrinsic path

namespace moe::detail {
void MatMulTransposedQ8_0Vnni(const WeightMatrix&, const float*, size_t, size_t, float*, size_t) {}
}  // namespace moe::detail

#endif
