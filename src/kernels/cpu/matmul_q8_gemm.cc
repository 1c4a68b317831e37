// Q8_0 x Q8_0 prefill GEMM with AVX512_VNNI on rows interleaved 16 at a time: the products
// of matmul_avx512.cc spend four instructions per vpdpbusd (the dot product, a convert, a
// scale product and an FMA, because every 32-column block has its own scales), which caps
// them at a quarter of the int8 peak. Here one vector holds 16 weight rows (one per lane, 4
// consecutive columns each), so a 32-column block is 8 vpdpbusd against broadcast activation
// bytes, followed by one convert, scale product and FMA for all 16 rows: 8 of 12 instructions
// are dot products.
//
// Packing a 16-row tile (a dword transpose per block, the -128·Σw corrections, the 16 row
// scales) costs about 50 instructions per block, once per tile, against 12 per token: it pays
// for itself from 3 tokens on. One or two tokens (decode) transpose each block in registers
// and use it at once. Arithmetic per (row, token, block), on both routes: the exact int32 sum
// of quant products, times (d_w · d_x), added in float in block order: the reference's
// terms, one rounding apart (FMA), and a token's result does not depend on the batch.
#include <cstdint>
#include <vector>

#include "kernels/cpu/matmul_avx512.h"
#include "kernels/cpu/matmul_common.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#include "kernels/cpu/q8_signed_acts.h"

namespace moe::detail {
namespace {

constexpr size_t kTileRows = 16;   // one per float lane
constexpr size_t kTileTokens = 8;  // 16 independent vpdpbusd chains (two per token) in flight

// One block of a 16-row tile: q[j] lane r = quants 4j..4j+3 of row r; corr lane r =
// -128 · Σ row r's quants (vpdpbusd multiplies unsigned activations, x + 128, by signed
// weights); d lane r = row r's scale.
struct alignas(64) TileBlock {
  __m512i q[8];
  __m512i corr;
  __m512 d;
};

// One token's block: quants XOR 0x80 (x + 128 as unsigned bytes) and its scale.
struct ActBlock {
  uint8_t u[kQ8_0Block];
  float d;
};

// Block b of rows[0..15] transposed to dwords, XOR `flip`: q[j] lane r = quants 4j..4j+3 of
// row r. Rows k and k + 8 share a vector (low and high 256 bits), an 8 x 8 dword transpose
// runs in both halves at once (unpacks), and the final 64-bit permutes put rows 0-3, 4-7,
// 8-11, 12-15 in order.
MOE_AVX512_VNNI inline void TransposeBlock(const BlockQ8_0* const* rows, size_t b, __m512i flip,
                                           __m512i (&q)[8]) {
  __m512i a[8];
  for (size_t k = 0; k < 8; ++k) {
    const __m256i lo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(rows[k][b].qs));
    const __m256i hi = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(rows[k + 8][b].qs));
    a[k] = _mm512_xor_si512(_mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1), flip);
  }
  __m512i t[8], u[8];
  for (size_t h = 0; h < 8; h += 4) {  // rows h..h+3 (and h+8..h+11)
    t[h + 0] = _mm512_unpacklo_epi32(a[h + 0], a[h + 1]);
    t[h + 1] = _mm512_unpackhi_epi32(a[h + 0], a[h + 1]);
    t[h + 2] = _mm512_unpacklo_epi32(a[h + 2], a[h + 3]);
    t[h + 3] = _mm512_unpackhi_epi32(a[h + 2], a[h + 3]);
    u[h + 0] = _mm512_unpacklo_epi64(t[h + 0], t[h + 2]);  // dword 0 | 4 of the 4 rows
    u[h + 1] = _mm512_unpackhi_epi64(t[h + 0], t[h + 2]);  // dword 1 | 5
    u[h + 2] = _mm512_unpacklo_epi64(t[h + 1], t[h + 3]);  // dword 2 | 6
    u[h + 3] = _mm512_unpackhi_epi64(t[h + 1], t[h + 3]);  // dword 3 | 7
  }
  // 128-bit blocks of u[i]: 0 = rows h..h+3 dword i, 1 = same rows dword i + 4, 2 and 3 the
  // same for rows h+8..h+11.
  const __m512i lo_idx = _mm512_setr_epi64(0, 1, 8, 9, 4, 5, 12, 13);
  const __m512i hi_idx = _mm512_setr_epi64(2, 3, 10, 11, 6, 7, 14, 15);
  for (size_t i = 0; i < 4; ++i) {
    q[i] = _mm512_permutex2var_epi64(u[i], lo_idx, u[i + 4]);
    q[i + 4] = _mm512_permutex2var_epi64(u[i], hi_idx, u[i + 4]);
  }
}

// The scales of block b of rows[0..15], lane r = row r's, inserted word by word (vpinsrw
// from memory). Copied through a stack array they took GCC 12 about 50 instructions per
// block (mask-register moves, then a load of 16 separate stores), more than the transpose:
// decode-fast/q8_0/4096x1024/hot ran 1.08x as fast on one thread and 1.18x on two with the
// inserts (medians of 5 and 4 alternating rounds; cold runs are bound by DRAM and even).
MOE_AVX512_VNNI inline __m512 BlockScales(const BlockQ8_0* const* rows, size_t b) {
  __m128i lo = _mm_cvtsi32_si128(rows[0][b].d), hi = _mm_cvtsi32_si128(rows[8][b].d);
#define MOE_Q8_SCALE(k)                       \
  lo = _mm_insert_epi16(lo, rows[k][b].d, k); \
  hi = _mm_insert_epi16(hi, rows[k + 8][b].d, k);
  MOE_Q8_SCALE(1) MOE_Q8_SCALE(2) MOE_Q8_SCALE(3) MOE_Q8_SCALE(4) MOE_Q8_SCALE(5) MOE_Q8_SCALE(6) MOE_Q8_SCALE(7)
#undef MOE_Q8_SCALE
  return _mm512_cvtph_ps(_mm256_inserti128_si256(_mm256_castsi128_si256(lo), hi, 1));
}

MOE_AVX512_VNNI void PackTileBlock(const BlockQ8_0* const* rows, size_t b, TileBlock* out) {
  TransposeBlock(rows, b, _mm512_setzero_si512(), out->q);
  const __m512i k80 = _mm512_set1_epi8(static_cast<char>(0x80));
  __m512i corr = _mm512_setzero_si512();
  for (size_t j = 0; j < 8; ++j) corr = _mm512_dpbusd_epi32(corr, k80, out->q[j]);
  out->corr = _mm512_sub_epi32(_mm512_setzero_si512(), corr);
  out->d = BlockScales(rows, b);
}

// Tokens t0..t0+kT-1 (packed blocks xb, n_blocks per token) against the packed tile.
template <size_t kT>
MOE_AVX512_VNNI void Tile(const TileBlock* wb, const ActBlock* xb, size_t n_blocks, float* y,
                          size_t y_stride, size_t r0, size_t t0) {
  __m512 acc[kT];
  for (size_t t = 0; t < kT; ++t) acc[t] = _mm512_setzero_ps();
  for (size_t b = 0; b < n_blocks; ++b) {
    const TileBlock& w = wb[b];
    __m512i q[8];
    for (size_t j = 0; j < 8; ++j) q[j] = _mm512_load_si512(&w.q[j]);
    const __m512i corr = _mm512_load_si512(&w.corr);
    const __m512 d = _mm512_load_ps(&w.d);
    for (size_t t = 0; t < kT; ++t) {
      const ActBlock& x = xb[t * n_blocks + b];
      // Two chains of four: half the latency of one chain of eight.
      __m512i s0 = corr, s1 = _mm512_setzero_si512();
      for (size_t j = 0; j < 8; j += 2) {
        s0 = _mm512_dpbusd_epi32(s0, BcastDword(x.u + 4 * j), q[j]);
        s1 = _mm512_dpbusd_epi32(s1, BcastDword(x.u + 4 * j + 4), q[j + 1]);
      }
      const __m512 sum = _mm512_cvtepi32_ps(_mm512_add_epi32(s0, s1));
      acc[t] = _mm512_fmadd_ps(sum, _mm512_mul_ps(d, _mm512_set1_ps(x.d)), acc[t]);
    }
  }
  for (size_t t = 0; t < kT; ++t) _mm512_storeu_ps(y + (t0 + t) * y_stride + r0, acc[t]);
}

// ---- one or two tokens: no packing pass (it would cost as much as the products), the
// transposed block lives in registers. The offset moves to the weights, w XOR 0x80 = w + 128
// (unsigned), and the activations stay signed (q8_signed_acts.h, the step of the tiled
// kernel too). The int32 block sums are exact, so they equal the GEMM's, and the float steps
// are the same: a token's result does not depend on how many tokens share the call.

template <size_t kT>
MOE_AVX512_VNNI void DecodeTile(const BlockQ8_0* const* rows, size_t ahead, const SignedActBlock* xb,
                                size_t n_blocks, float* y, size_t y_stride, size_t r0) {
  const __m512i k80 = _mm512_set1_epi8(static_cast<char>(0x80));
  __m512 acc[kT];
  for (size_t t = 0; t < kT; ++t) acc[t] = _mm512_setzero_ps();
  for (size_t b = 0; b < n_blocks; ++b) {
    // The same columns of a later tile: 16 rows, every block (34 bytes; lines are 64).
    if (ahead != 0)
      for (size_t r = 0; r < kTileRows; ++r)
        _mm_prefetch(reinterpret_cast<const char*>(rows[r] + b) + ahead, _MM_HINT_T1);
    __m512i q[8];
    TransposeBlock(rows, b, k80, q);
    const __m512 d = BlockScales(rows, b);
    for (size_t t = 0; t < kT; ++t) acc[t] = AddSignedBlock(q, d, xb[t * n_blocks + b], acc[t]);
  }
  for (size_t t = 0; t < kT; ++t) _mm512_storeu_ps(y + t * y_stride + r0, acc[t]);
}

template <size_t kT>
MOE_AVX512_VNNI void Decode(const WeightMatrix& w, const QuantizedActs& xq, float* y, size_t y_stride,
                            size_t row_begin, size_t row_end) {
  const size_t n_blocks = w.cols / kQ8_0Block;
  thread_local std::vector<SignedActBlock> xb;
  xb.resize(kT * n_blocks);
  PackSignedActs(xq, 0, kT, xb.data());
  for (size_t r0 = row_begin; r0 + kTileRows <= row_end; r0 += kTileRows) {
    const BlockQ8_0* rows[kTileRows];
    for (size_t r = 0; r < kTileRows; ++r) rows[r] = static_cast<const BlockQ8_0*>(w.Row(r0 + r));
    // Prefetch the next tile into L2 (two tiles ahead left half of an expert's 64-row work
    // item cold: -7% model decode).
    DecodeTile<kT>(rows, PrefetchOffset(kTileRows, kTileRows, r0, row_end, w.row_stride), xb.data(), n_blocks, y, y_stride, r0);
  }
}

MOE_AVX512_VNNI void PackActs(const QuantizedActs& xq, size_t t0, size_t t1, ActBlock* out) {
  const size_t n_blocks = xq.cols / kQ8_0Block;
  const __m256i k80 = _mm256_set1_epi8(static_cast<char>(0x80));
  for (size_t t = t0; t < t1; ++t) {
    const auto* xr = static_cast<const BlockQ8_0*>(xq.Row(t));
    for (size_t b = 0; b < n_blocks; ++b) {
      ActBlock& a = out[(t - t0) * n_blocks + b];
      const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xr[b].qs));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(a.u), _mm256_xor_si256(q, k80));
      a.d = HalfToFloat(xr[b].d);
    }
  }
}

}  // namespace

void MatMulRowsQ8_0Gemm(const WeightMatrix& w, const QuantizedActs& xq, float* y, size_t y_stride,
                        size_t row_begin, size_t row_end) {
  if (xq.n_tokens == 1) return Decode<1>(w, xq, y, y_stride, row_begin, row_end);
  if (xq.n_tokens == 2) return Decode<2>(w, xq, y, y_stride, row_begin, row_end);
  const size_t n_blocks = w.cols / kQ8_0Block;
  thread_local std::vector<ActBlock> xb;
  thread_local std::vector<TileBlock> wb;
  wb.resize(n_blocks);
  // Passes of tokens whose packed activations stay in L2 next to the packed tile.
  const size_t pass = TokensPerPass(n_blocks * sizeof(ActBlock) / sizeof(float), xq.n_tokens);
  for (size_t t0 = 0; t0 < xq.n_tokens; t0 += pass) {
    const size_t t1 = t0 + pass < xq.n_tokens ? t0 + pass : xq.n_tokens;
    xb.resize((t1 - t0) * n_blocks);
    PackActs(xq, t0, t1, xb.data());
    for (size_t r0 = row_begin; r0 + kTileRows <= row_end; r0 += kTileRows) {
      const BlockQ8_0* rows[kTileRows];
      for (size_t r = 0; r < kTileRows; ++r) rows[r] = static_cast<const BlockQ8_0*>(w.Row(r0 + r));
      for (size_t b = 0; b < n_blocks; ++b) PackTileBlock(rows, b, &wb[b]);
      size_t t = t0;
      for (; t + kTileTokens <= t1; t += kTileTokens)
        Tile<kTileTokens>(wb.data(), xb.data() + (t - t0) * n_blocks, n_blocks, y, y_stride, r0, t);
      const ActBlock* xt = xb.data() + (t - t0) * n_blocks;
      switch (t1 - t) {
        case 7: Tile<7>(wb.data(), xt, n_blocks, y, y_stride, r0, t); break;
        case 6: Tile<6>(wb.data(), xt, n_blocks, y, y_stride, r0, t); break;
        case 5: Tile<5>(wb.data(), xt, n_blocks, y, y_stride, r0, t); break;
        case 4: Tile<4>(wb.data(), xt, n_blocks, y, y_stride, r0, t); break;
        case 3: Tile<3>(wb.data(), xt, n_blocks, y, y_stride, r0, t); break;
        case 2: Tile<2>(wb.data(), xt, n_blocks, y, y_stride, r0, t); break;
        case 1: Tile<1>(wb.data(), xt, n_blocks, y, y_stride, r0, t); break;
        default: break;
      }
    }
  }
}

}  // namespace moe::detail

#else  // not x86-64 GCC/Clang: no intrinsic path

namespace moe::detail {
void MatMulRowsQ8_0Gemm(const WeightMatrix&, const QuantizedActs&, float*, size_t, size_t, size_t) {}
}  // namespace moe::detail

#endif
