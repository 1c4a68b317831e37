// FP8 e4m3 weights (128x128 block scales) x float32 activations with AVX512_BF16 vdpbf16ps
// and AVX512_VBMI vpermi2b: the fast path of matmul.h for FP8 on CPUs without AVX512_FP16
// (AMD Zen 4; matmul_f8_fp16.cc serves those with it). The functions carry their own target
// attribute (no -m flags); callers check CpuHasF8Bf16() first.
//
// Decode: 64 codes become 64 bf16 of v · 2^8. v · 2^8 is a bf16 for every e4m3 value (4
// significant bits, exponents -1..16), so every code decodes exactly. Two routes give the
// same bits in the same order:
// - Tables (any code): two vpermi2b look up the high and the low byte of that bf16 in
//   128-entry tables (two registers each) indexed by the code's low seven bits, a ternlog
//   ORs in the sign bit, and vpunpcklbw / vpunpckhbw interleave the bytes into words: zero,
//   subnormals and NaN included, no special cases. The unpacks work within 128-bit lanes:
//   the first vector holds codes 16j..16j+7 of each lane j, the second 16j+8..16j+15; the
//   activations are stored in that order, so the products pair up.
// - Shifts (normal codes): the bf16 of a code with sign s, exponent field e >= 1 and
//   mantissa m is s << 15 | 0x4000 | e << 7 | m << 4, the code's low seven bits moved up by
//   four with bit 14 set. A vpshufb puts the codes of the two orders in the low and high
//   bytes of each word, a vpsraw by 4 moves the high ones into place (the sign copied down
//   to bit 15), a vpsllw by 8 first does the same for the low ones, and a ternlog per vector
//   masks and sets bit 14.
// Decode (one token) tests the tile's rows' codes first (KeepShiftable: zero, subnormal and
// NaN codes, and the smallest normals, are 0.4% of the 64-code groups of a row in
// deepseek-v3-bench FP8, 0.9% in the kit's deepseek2-fp8) and takes the shifts for a group
// where no row has one. Their ops run beside vdpbf16ps where the tables' shuffles compete
// with it: one Zen 4 core decoding and multiplying rows from L2 spent 7.3-7.5 cycles per 64
// weights against 8.1-8.5 with the tables, 4.0 being vdpbf16ps's own bound. Tiles of two
// tokens keep the tables (with the shifts they were no faster).
//
// Activations: the block scales move to them, as in the fp16 kernel: the 128 rows of a block
// row share their column-block scales s[b], so each pass of tokens is rescaled once per block
// row, x' = x · s[c / 128], and the loop has no scale in it. x' is split into two bf16,
// hi = bf16(x'), lo = bf16(x' - hi), |x' - hi - lo| <= 2^-16 |x'|: 16 significant bits, more
// than fp16's 11, where bf16 alone (8) moved the kit's deepseek2-fp8 logits by up to 0.16
// against float32 references (the kit allows 0.05 for engines computing in 16 bits). The
// products of hi and lo with the bf16 weights are exact; each costs one vdpbf16ps per 32
// weights, summed in float32, and the sum is multiplied by 2^-8 once.
//
// History, on the same shapes as Q8_0 (Zen 4, one thread, cold; GB/s of weights, FP8 reading
// 1 byte per weight and Q8_0 1.0625): the first kernel (three ops per 32 codes from
// sign-extended codes, a scan of every block for exponent-0 and NaN codes, per-block partial
// sums scaled by an FMA) decoded at 0.62-0.78x of Q8_0's speed; tables for every group at
// 0.86-0.95x; with the shifts 0.95-0.99x, i.e. at least as many weights per second. The
// limit now is vdpbf16ps itself: four per 64 weights for one token, against one vpdpbusd for
// Q8_0.
#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

#include "kernels/cpu/matmul_avx512.h"
#include "kernels/cpu/matmul_common.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#define MOE_F8_BF16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,avx512vbmi,fma")))

namespace moe::detail {
namespace {

constexpr size_t kGroup = 64;  // codes per decode step

// bf16 bits of e4m3 code c (c < 128, sign clear) times 2^8: exponent field e (bias 7) and
// mantissa m give (1 + m/8) · 2^(e - 7 + 8), i.e. bf16 exponent field 128 + e and mantissa
// m << 4; e = 0 gives m · 2^-9 · 2^8 = m / 2; 0x7F is NaN.
constexpr uint16_t Bf16Of256Times(unsigned c) {
  const unsigned e = c >> 3, m = c & 7;
  if (c == 0x7F) return 0x7FC0;
  if (e != 0) return static_cast<uint16_t>((128 + e) << 7 | m << 4);
  if (m == 0) return 0;
  const unsigned p = m >= 4 ? 2 : m >= 2 ? 1 : 0;  // m = 2^p · (1 + f)
  return static_cast<uint16_t>((126 + p) << 7 | ((m - (1u << p)) << (7 - p)));
}

struct DecodeTables {
  alignas(64) uint8_t hi[128];
  alignas(64) uint8_t lo[128];
  constexpr DecodeTables() : hi(), lo() {
    for (unsigned c = 0; c < 128; ++c) {
      hi[c] = static_cast<uint8_t>(Bf16Of256Times(c) >> 8);
      lo[c] = static_cast<uint8_t>(Bf16Of256Times(c) & 0xFF);
    }
  }
};
constexpr DecodeTables kTables;

// The decode tables in registers.
struct Decoder {
  __m512i hi0, hi1, lo0, lo1, sign;
  MOE_F8_BF16 Decoder()
      : hi0(_mm512_load_si512(kTables.hi)), hi1(_mm512_load_si512(kTables.hi + 64)),
        lo0(_mm512_load_si512(kTables.lo)), lo1(_mm512_load_si512(kTables.lo + 64)),
        sign(_mm512_set1_epi8(static_cast<char>(0x80))) {}
  // 64 codes -> bf16 of v · 2^8: codes 16j..16j+7 of each 128-bit lane j into a, 16j+8.. into b.
  MOE_F8_BF16 inline void Decode(__m512i q, __m512bh& a, __m512bh& b) const {
    __m512i h = _mm512_permutex2var_epi8(hi0, q, hi1);
    const __m512i l = _mm512_permutex2var_epi8(lo0, q, lo1);
    h = _mm512_ternarylogic_epi32(h, q, sign, 0xF8);  // h | (q & 0x80)
    a = reinterpret_cast<__m512bh>(_mm512_unpacklo_epi8(l, h));
    b = reinterpret_cast<__m512bh>(_mm512_unpackhi_epi8(l, h));
  }
};

// `clean` with the bits of q's codes cleared where ShiftDecode would decode them wrongly:
// those whose low seven bits are 0x7F (NaN) or 0x00..0x07 (zero, subnormals). The test is
// one add and one vptestmb: (low seven bits + 1) mod 128 >= 16, so it also sends the seven
// smallest normals (0x08..0x0E) to the tables, which decode them as well.
MOE_F8_BF16 inline __mmask64 KeepShiftable(__mmask64 clean, __m512i q) {
  return _mm512_mask_test_epi8_mask(clean, _mm512_add_epi8(q, _mm512_set1_epi8(1)), _mm512_set1_epi8(0x70));
}

// Decoder::Decode, bit for bit and in the same order, for normal codes only (not 0x7F).
MOE_F8_BF16 inline void ShiftDecode(__m512i q, __m512bh& a, __m512bh& b) {
  // Within each 128-bit lane, codes 0..7 to the even bytes and 8..15 to the odd ones: each
  // word then holds a code of the first order low and one of the second high.
  const __m512i order = _mm512_broadcast_i32x4(_mm_setr_epi8(0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15));
  q = _mm512_shuffle_epi8(q, order);
  // (x & 0x87F0) | 0x4000 on each code moved to bits 4..11 by the arithmetic shift: its
  // sign copied to bit 15, its low seven bits at 4..10, bit 14 set.
  const __m512i keep = _mm512_set1_epi16(static_cast<int16_t>(0x87F0)), bit14 = _mm512_set1_epi16(0x4000);
  a = reinterpret_cast<__m512bh>(
      _mm512_ternarylogic_epi32(_mm512_srai_epi16(_mm512_slli_epi16(q, 8), 4), keep, bit14, 0xEA));
  b = reinterpret_cast<__m512bh>(_mm512_ternarylogic_epi32(_mm512_srai_epi16(q, 4), keep, bit14, 0xEA));
}

// One pass of tokens, scaled for one block row and split: per token and 64-column group, four
// vectors of 32 bf16: hi and lo in the decoder's first order, then hi and lo in its second.
// Columns past cols are zero.
struct alignas(64) ActGroup {
  uint16_t x[4][32];
};
struct PairActs {
  std::vector<ActGroup> v;  // (a vector of __m512i would drop its alignment: GCC ignores
                            // attributes on template arguments)
  size_t groups = 0;
  const ActGroup& At(size_t t, size_t g) const { return v[t * groups + g]; }
};

MOE_F8_BF16 void SplitScaledActs(const QuantizedActs& xq, size_t t0, size_t t1, const float* scales, PairActs& pa) {
  const size_t cols = xq.cols;
  for (size_t t = t0; t < t1; ++t) {
    const auto* x = static_cast<const float*>(xq.Row(t));
    ActGroup* out = pa.v.data() + (t - t0) * pa.groups;
    for (size_t g = 0; g < pa.groups; ++g, ++out) {
      const size_t c0 = g * kGroup;
      const __m512 s = _mm512_set1_ps(scales[c0 / kF8Block]);
      __m512i hi[2], lo[2];
      for (size_t k = 0; k < 2; ++k) {  // columns c0 + 32k .. + 31: two 16-float halves
        __m256i h[2], l[2];
        for (size_t j = 0; j < 2; ++j) {
          const size_t c = c0 + 32 * k + 16 * j;
          const __mmask16 m = c >= cols ? 0 : cols - c >= 16 ? 0xFFFF : static_cast<__mmask16>((1u << (cols - c)) - 1);
          const __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + c), s);
          h[j] = reinterpret_cast<__m256i>(_mm512_cvtneps_pbh(v));
          const __m512 hv = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h[j]), 16));
          l[j] = reinterpret_cast<__m256i>(_mm512_cvtneps_pbh(_mm512_sub_ps(v, hv)));
        }
        hi[k] = _mm512_inserti64x4(_mm512_castsi256_si512(h[0]), h[1], 1);
        lo[k] = _mm512_inserti64x4(_mm512_castsi256_si512(l[0]), l[1], 1);
      }
      // 128-bit lane j of the first order: columns 16j..16j+7 = the low halves of the four
      // 16-column pieces (0x88), of the second: their high halves (0xDD).
      _mm512_store_si512(out->x[0], _mm512_shuffle_i64x2(hi[0], hi[1], 0x88));
      _mm512_store_si512(out->x[1], _mm512_shuffle_i64x2(lo[0], lo[1], 0x88));
      _mm512_store_si512(out->x[2], _mm512_shuffle_i64x2(hi[0], hi[1], 0xDD));
      _mm512_store_si512(out->x[3], _mm512_shuffle_i64x2(lo[0], lo[1], 0xDD));
    }
  }
}

// kR rows from r0 x kT tokens from t0 of the pass (y's rows t0.. from the pass's first
// token). `ahead`: bytes from a row to the row whose columns the tile prefetches into L2.
// Each row and token sums in two accumulators (the decoder's two orders), or the four
// dependent vdpbf16ps per group of a single token would leave decode latency bound; the same
// in every tile width, so that a token's result does not depend on the batch.
// The loops over rows, tokens and accumulators are unrolled before scalar replacement:
// otherwise GCC 12 (-O3) keeps acc in registers but also stores every accumulator to the
// stack on every group, 16 stores per 32 products in Tile<4, 2>; unrolled, the kernel's
// prefill ran 1.4-1.5x as fast (prefill-fast/f8_e4m3, 2 Zen 4 threads).
template <size_t kR, size_t kT>
MOE_F8_BF16 void Tile(const WeightMatrix& w, size_t r0, const PairActs& pa, size_t t0, float* y, size_t y_stride,
                      size_t ahead) {
  constexpr size_t kA = 2;
  const size_t cols = w.cols;
  const Decoder dec;
  const uint8_t* wr[kR];
#pragma GCC unroll 8
  for (size_t r = 0; r < kR; ++r) wr[r] = static_cast<const uint8_t*>(w.Row(r0 + r));
  const ActGroup* xr[kT];
#pragma GCC unroll 8
  for (size_t t = 0; t < kT; ++t) xr[t] = &pa.At(t0 + t, 0);
  __m512 acc[kR][kT][kA];
#pragma GCC unroll 8
  for (size_t r = 0; r < kR; ++r)
#pragma GCC unroll 8
    for (size_t t = 0; t < kT; ++t)
#pragma GCC unroll 8
      for (size_t k = 0; k < kA; ++k) acc[r][t][k] = _mm512_setzero_ps();
  for (size_t g = 0, c = 0; c < cols; ++g, c += kGroup) {
    // Masked-off codes read as 0 (+0; the tables decode them), against zero activations. A
    // full group is loaded without the mask in decode: with it the shift route ran at 8.7
    // cycles per 64 weights instead of 7.3 (one Zen 4 core, rows in L2).
    const bool full = cols - c >= kGroup;
    const __mmask64 m = full ? ~__mmask64{0} : (__mmask64{1} << (cols - c)) - 1;
    __m512bh x[kT][4];
#pragma GCC unroll 8
    for (size_t t = 0; t < kT; ++t)
      for (size_t k = 0; k < 4; ++k) x[t][k] = reinterpret_cast<__m512bh>(_mm512_load_si512(xr[t][g].x[k]));
    // One token (decode): the rows' codes first, then the shifts if they decode all of them.
    // Two tokens: the tables, whose shuffles the second token's products hide (the shifts
    // there were no faster), with the loads where they were.
    __m512i q[kR];
    __mmask64 clean = 0;
    if constexpr (kT == 1) {
      clean = ~__mmask64{0};
#pragma GCC unroll 8
      for (size_t r = 0; r < kR; ++r) {
        if (ahead != 0) _mm_prefetch(reinterpret_cast<const char*>(wr[r] + c) + ahead, _MM_HINT_T1);
        q[r] = full ? _mm512_loadu_si512(wr[r] + c) : _mm512_maskz_loadu_epi8(m, wr[r] + c);
        clean = KeepShiftable(clean, q[r]);
      }
    }
#pragma GCC unroll 8
    for (size_t r = 0; r < kR; ++r) {
      __m512bh a, b;
      if constexpr (kT == 1) {
        if (__builtin_expect(clean == ~__mmask64{0}, 1)) {
          ShiftDecode(q[r], a, b);
        } else {
          dec.Decode(q[r], a, b);
        }
      } else {
        if (ahead != 0) _mm_prefetch(reinterpret_cast<const char*>(wr[r] + c) + ahead, _MM_HINT_T1);
        dec.Decode(_mm512_maskz_loadu_epi8(m, wr[r] + c), a, b);
      }
#pragma GCC unroll 8
      for (size_t t = 0; t < kT; ++t) {
        __m512& sa = acc[r][t][0];
        __m512& sb = acc[r][t][1];
        sa = _mm512_dpbf16_ps(_mm512_dpbf16_ps(sa, a, x[t][0]), a, x[t][1]);
        sb = _mm512_dpbf16_ps(_mm512_dpbf16_ps(sb, b, x[t][2]), b, x[t][3]);
      }
    }
  }
#pragma GCC unroll 8
  for (size_t t = 0; t < kT; ++t)
#pragma GCC unroll 8
    for (size_t r = 0; r < kR; ++r) {
      const __m512 sum = _mm512_add_ps(acc[r][t][0], acc[r][t][1]);
      y[(t0 + t) * y_stride + r0 + r] = _mm512_reduce_add_ps(sum) * (1.0f / 256);
    }
}

// Tiles of kR rows over the pass's tokens [0, n): 2-token tiles, then one single-token tile.
// The first tile prefetches kDecodePrefetchRows ahead (the others find the rows in cache).
template <size_t kR>
void RowTiles(const WeightMatrix& w, size_t r0, size_t row_end, const PairActs& pa, size_t n, float* y,
              size_t y_stride) {
  size_t ahead = PrefetchOffset(kDecodePrefetchRows, kR, r0, row_end, w.row_stride);
  size_t t = 0;
  for (; t + 2 <= n; t += 2) Tile<kR, 2>(w, r0, pa, t, y, y_stride, std::exchange(ahead, 0));
  if (t < n) Tile<kR, 1>(w, r0, pa, t, y, y_stride, ahead);
}

}  // namespace

void MatMulRowsF8Bf16(const WeightMatrix& w, const QuantizedActs& xq, float* y, size_t y_stride,
                      size_t row_begin, size_t row_end) {
  thread_local PairActs pa;
  pa.groups = (w.cols + kGroup - 1) / kGroup;
  // Passes of tokens whose split activations (4 bytes per column, as float32) stay in L2.
  const size_t pass = TokensPerPass(pa.groups * kGroup + 1, xq.n_tokens);
  pa.v.resize(pass * pa.groups);
  for (size_t t0 = 0; t0 < xq.n_tokens; t0 += pass) {
    const size_t t1 = std::min(xq.n_tokens, t0 + pass), n = t1 - t0;
    float* yp = y + t0 * y_stride;
    // One block row of weights at a time: its rows share the column-block scales.
    for (size_t a = row_begin; a < row_end;) {
      const size_t b = w.ScaleBlockEnd(a, row_end);
      SplitScaledActs(xq, t0, t1, w.RowScales(a), pa);
      size_t r = a;
      for (; r + 4 <= b; r += 4) RowTiles<4>(w, r, row_end, pa, n, yp, y_stride);
      for (; r < b; ++r) RowTiles<1>(w, r, row_end, pa, n, yp, y_stride);
      a = b;
    }
  }
}

bool CpuHasF8Bf16() {
  // AVX512_VBMI (vpermi2b) beyond what the other AVX-512 kernels check.
  static const bool has = CpuHasAvx512Dot() && __builtin_cpu_supports("avx512vbmi");
  return has;
}

}  // namespace moe::detail

#else  // not x86-64 GCC/Clang: no intrinsic path

namespace moe::detail {
void MatMulRowsF8Bf16(const WeightMatrix&, const QuantizedActs&, float*, size_t, size_t, size_t) {}
bool CpuHasF8Bf16() { return false; }
}  // namespace moe::detail

#endif
