// Q8_0 x Q8_0 products with AVX512_VNNI on weights tiled at load (weight_tiles.h): a 32-column
// block of a 16-row tile is 8 vectors exactly as vpdpbusd takes them (one dword of 4 columns
// per row and lane, w + 128 as unsigned bytes) and one 32-byte vector of scales, so the
// kernel loads them and multiplies; matmul_q8_gemm.cc has to transpose each block first, in
// registers (decode) or into a packed copy (prefill).
//
// Activations stay signed (vpdpbusd's signed operand, broadcast a dword at a time), so
// Σ (w + 128)·x = Σ w·x + 128·Σ x, and each token's block sum starts from -128·Σ x, packed
// with the token. Arithmetic per (row, token, block): the exact int32 sum of quant products,
// times (d_w · d_x), added in float in block order: bit for bit the sums of
// matmul_q8_gemm.cc, and a token's result does not depend on the batch.
#include <cstdint>
#include <vector>

#include "kernels/cpu/matmul_avx512.h"
#include "kernels/cpu/matmul_common.h"
#include "kernels/cpu/weight_tiles.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#define MOE_AVX512_VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,f16c,fma")))

namespace moe::detail {
namespace {

constexpr size_t kTileTokens = 8;  // 16 independent vpdpbusd chains (two per token)

// One token's block: its quants, its scale and -128 · Σ quants.
struct ActBlock {
  int8_t q[kQ8_0Block];
  float d;
  int32_t neg_corr;
};

MOE_AVX512_VNNI void PackActs(const QuantizedActs& xq, size_t t0, size_t t1, ActBlock* out) {
  const size_t nb = xq.cols / kQ8_0Block;
  const __m256i k80 = _mm256_set1_epi8(static_cast<char>(0x80));
  for (size_t t = t0; t < t1; ++t) {
    const auto* xr = static_cast<const BlockQ8_0*>(xq.Row(t));
    for (size_t b = 0; b < nb; ++b) {
      ActBlock& a = out[(t - t0) * nb + b];
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

MOE_AVX512_VNNI inline __m512i Bcast(const int8_t* p) {
  int32_t v;
  __builtin_memcpy(&v, p, 4);
  return _mm512_set1_epi32(v);
}

// acc + (exact int32 block sums of the 16 rows' quants q with token x's) · (d_w · d_x): the one
// step every kernel here takes per (tile, token, block).
MOE_AVX512_VNNI inline __m512 AddBlock(const __m512i (&q)[8], __m512 d, const ActBlock& x, __m512 acc) {
  // Two chains of four: half the latency of one chain of eight.
  __m512i s0 = _mm512_set1_epi32(x.neg_corr), s1 = _mm512_setzero_si512();
#pragma GCC unroll 4
  for (size_t j = 0; j < 8; j += 2) {
    s0 = _mm512_dpbusd_epi32(s0, q[j], Bcast(x.q + 4 * j));
    s1 = _mm512_dpbusd_epi32(s1, q[j + 1], Bcast(x.q + 4 * j + 4));
  }
  const __m512 sum = _mm512_cvtepi32_ps(_mm512_add_epi32(s0, s1));
  return _mm512_fmadd_ps(sum, _mm512_mul_ps(d, _mm512_set1_ps(x.d)), acc);
}

// Block b's quant vectors and widened scales.
MOE_AVX512_VNNI inline __m512 LoadBlock(const uint8_t* wq, const uint16_t* scales, __m512i (&q)[8]) {
#pragma GCC unroll 8
  for (size_t j = 0; j < 8; ++j) q[j] = _mm512_loadu_si512(wq + 64 * j);
  return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(scales)));
}

// Block b of the tile (quants at wq, scales at ds) into the sums of tokens 0..kT-1 of xb.
template <size_t kT>
MOE_AVX512_VNNI inline void Step(const uint8_t* wq, const uint8_t* ds, const ActBlock* xb, size_t nb, __m512 (&acc)[kT]) {
  __m512i q[8];
  const __m512 d = LoadBlock(wq, reinterpret_cast<const uint16_t*>(ds), q);
#pragma GCC unroll 8
  for (size_t t = 0; t < kT; ++t) acc[t] = AddBlock(q, d, xb[t * nb], acc[t]);
}

// Tokens 0..kT-1 of xb (nb blocks each) against one tile, read front to back: one forward
// stream, which the hardware prefetchers follow at a core's full rate for 1-3 tokens. From 4
// tokens on a pair of blocks takes long enough that they fall behind: those tiles prefetch
// kPrefetchPairs pairs ahead into L2 (also past the tile's end: tiles follow each other).
// On Zen 4, 1408x1024 x 48 tokens from DRAM, one thread: 254-264 -> 328-333 GFLOP/s; the
// same prefetch for 1-2 tokens, or a tile ahead, cost one-core decode 10-30%.
constexpr size_t kPrefetchPairs = 4;

template <size_t kT>
MOE_AVX512_VNNI void Tile(const uint8_t* tile, size_t nb, const ActBlock* xb, float* y, size_t y_stride) {
  __m512 acc[kT];
#pragma GCC unroll 8
  for (size_t t = 0; t < kT; ++t) acc[t] = _mm512_setzero_ps();
  const uint8_t* p = tile;
  size_t b = 0;
  for (; b + 2 <= nb; b += 2, p += kQ8TilePairBytes) {
    if constexpr (kT >= 4) {
#pragma GCC unroll 17
      for (size_t l = 0; l < kQ8TilePairBytes / 64; ++l)
        _mm_prefetch(reinterpret_cast<const char*>(p) + kPrefetchPairs * kQ8TilePairBytes + 64 * l, _MM_HINT_T1);
    }
    Step(p, p + 2 * kQ8TileBlockQuantBytes, xb + b, nb, acc);
    Step(p + kQ8TileBlockQuantBytes, p + 2 * kQ8TileBlockQuantBytes + kQ8TileBlockScaleBytes, xb + b + 1, nb, acc);
  }
  if (b < nb) Step(p, p + kQ8TileBlockQuantBytes, xb + b, nb, acc);  // a last block without a pair
#pragma GCC unroll 8
  for (size_t t = 0; t < kT; ++t) _mm512_storeu_ps(y + t * y_stride, acc[t]);
}

using TileFn = void (*)(const uint8_t*, size_t, const ActBlock*, float*, size_t);
constexpr TileFn kTiles[kTileTokens + 1] = {nullptr, Tile<1>, Tile<2>, Tile<3>, Tile<4>,
                                            Tile<5>, Tile<6>, Tile<7>, Tile<8>};

}  // namespace

void MatMulRowsQ8_0Tiled(const WeightMatrix& w, const QuantizedActs& xq, float* y, size_t y_stride,
                         size_t row_begin, size_t row_end) {
  const size_t nb = w.cols / kQ8_0Block, tile_bytes = kWeightTileRows * w.row_stride;
  const auto* tiles = static_cast<const uint8_t*>(w.data);
  thread_local std::vector<ActBlock> xb;
  // Passes of tokens whose packed activations stay in L2 next to the tile being reused.
  const size_t pass = TokensPerPass(nb * sizeof(ActBlock) / sizeof(float), xq.n_tokens);
  for (size_t t0 = 0; t0 < xq.n_tokens; t0 += pass) {
    const size_t t1 = t0 + pass < xq.n_tokens ? t0 + pass : xq.n_tokens;
    xb.resize((t1 - t0) * nb);
    PackActs(xq, t0, t1, xb.data());
    for (size_t r0 = row_begin; r0 < row_end; r0 += kWeightTileRows) {
      const uint8_t* tile = tiles + r0 / kWeightTileRows * tile_bytes;
      for (size_t t = t0; t < t1; t += kTileTokens) {
        const size_t n = t1 - t < kTileTokens ? t1 - t : kTileTokens;
        kTiles[n](tile, nb, xb.data() + (t - t0) * nb, y + t * y_stride + r0, y_stride);
      }
    }
  }
}

}  // namespace moe::detail

#else  // not x86-64 GCC/Clang: no intrinsic path

namespace moe::detail {
void MatMulRowsQ8_0Tiled(const WeightMatrix&, const QuantizedActs&, float*, size_t, size_t, size_t) {}
}  // namespace moe::detail

#endif
