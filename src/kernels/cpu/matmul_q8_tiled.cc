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

#include "kernels/cpu/q8_signed_acts.h"

namespace moe::detail {
namespace {

constexpr size_t kTileTokens = 8;  // 16 independent vpdpbusd chains (two per token)

// Block b's quant vectors and widened scales.
MOE_AVX512_VNNI inline __m512 LoadBlock(const uint8_t* wq, const uint16_t* scales, __m512i (&q)[8]) {
#pragma GCC unroll 8
  for (size_t j = 0; j < 8; ++j) q[j] = _mm512_loadu_si512(wq + 64 * j);
  return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(scales)));
}

// Block b of the tile (quants at wq, scales at ds) into the sums of tokens 0..kT-1 of xb.
template <size_t kT>
MOE_AVX512_VNNI inline void Step(const uint8_t* wq, const uint8_t* ds, const SignedActBlock* xb, size_t nb, __m512 (&acc)[kT]) {
  __m512i q[8];
  const __m512 d = LoadBlock(wq, reinterpret_cast<const uint16_t*>(ds), q);
#pragma GCC unroll 8
  for (size_t t = 0; t < kT; ++t) acc[t] = AddSignedBlock(q, d, xb[t * nb], acc[t]);
}

// Tokens 0..kT-1 of xb (nb blocks each) against one tile, read front to back. From 4 tokens
// on a pair of blocks takes long enough that the hardware prefetchers fall behind: those
// tiles prefetch kPrefetchPairs pairs ahead into L2 (also past the tile's end: tiles follow
// each other). On Zen 4, 1408x1024 x 48 tokens from DRAM, one thread: 254-264 -> 328-333
// GFLOP/s.
constexpr size_t kPrefetchPairs = 4;

// Decode tiles (1-3 tokens) prefetch `ahead` bytes on into L2 where DecodePrefetchBytes says
// so, not past `end` (the last tile of the caller's rows: an expert's 64-row item would read
// a quarter more). On Zen 4 the hardware prefetchers follow the one forward stream at a
// core's full rate and the prefetch cost one-core decode 10-30%; on Intel (Emerald Rapids,
// 2 cores) they do not: 8 pairs (8.7 KB) ahead took decode-fast/q8_0-tiled/4096x1024/cold and
// gemv-fast/q8_0-tiled/{2048x7168,7168x2048}/cold on 2 threads from 20-24 to 25-28 GB/s and
// deepseek-v3-bench Q8_0 tg64 from 69-80% to 82-85% of the bandwidth roofline (3 alternating
// rounds; 4 to 12 pairs measured alike, 2 less, 16 mixed).
size_t DecodePrefetchBytes() {
  static const size_t bytes = [] {
    __builtin_cpu_init();
    return __builtin_cpu_is("intel") != 0 ? 8 * kQ8TilePairBytes : 0;
  }();
  return bytes;
}

template <size_t kT>
MOE_AVX512_VNNI void Tile(const uint8_t* tile, size_t nb, const SignedActBlock* xb, float* y, size_t y_stride,
                          size_t ahead, const uint8_t* end) {
  __m512 acc[kT];
#pragma GCC unroll 8
  for (size_t t = 0; t < kT; ++t) acc[t] = _mm512_setzero_ps();
  // Prefill tiles run on into the next tile unbounded; decode tiles stop at `end`.
  const size_t dist = kT >= 4 ? kPrefetchPairs * kQ8TilePairBytes : ahead;
  const uint8_t* p = tile;
  size_t b = 0;
  for (; b + 2 <= nb; b += 2, p += kQ8TilePairBytes) {
    if (dist != 0 && (kT >= 4 || p + dist + kQ8TilePairBytes <= end)) {
#pragma GCC unroll 17
      for (size_t l = 0; l < kQ8TilePairBytes / 64; ++l)
        _mm_prefetch(reinterpret_cast<const char*>(p) + dist + 64 * l, _MM_HINT_T1);
    }
    Step(p, p + 2 * kQ8TileBlockQuantBytes, xb + b, nb, acc);
    Step(p + kQ8TileBlockQuantBytes, p + 2 * kQ8TileBlockQuantBytes + kQ8TileBlockScaleBytes, xb + b + 1, nb, acc);
  }
  if (b < nb) Step(p, p + kQ8TileBlockQuantBytes, xb + b, nb, acc);  // a last block without a pair
#pragma GCC unroll 8
  for (size_t t = 0; t < kT; ++t) _mm512_storeu_ps(y + t * y_stride, acc[t]);
}

using TileFn = void (*)(const uint8_t*, size_t, const SignedActBlock*, float*, size_t, size_t, const uint8_t*);
constexpr TileFn kTiles[kTileTokens + 1] = {nullptr, Tile<1>, Tile<2>, Tile<3>, Tile<4>,
                                            Tile<5>, Tile<6>, Tile<7>, Tile<8>};

}  // namespace

void MatMulRowsQ8_0Tiled(const WeightMatrix& w, const QuantizedActs& xq, float* y, size_t y_stride,
                         size_t row_begin, size_t row_end) {
  const size_t nb = w.cols / kQ8_0Block, tile_bytes = kWeightTileRows * w.row_stride;
  const auto* tiles = static_cast<const uint8_t*>(w.data);
  const uint8_t* end = tiles + (row_end + kWeightTileRows - 1) / kWeightTileRows * tile_bytes;
  const size_t ahead = DecodePrefetchBytes();
  thread_local std::vector<SignedActBlock> xb;
  // Passes of tokens whose packed activations stay in L2 next to the tile being reused.
  const size_t pass = TokensPerPass(nb * sizeof(SignedActBlock) / sizeof(float), xq.n_tokens);
  for (size_t t0 = 0; t0 < xq.n_tokens; t0 += pass) {
    const size_t t1 = t0 + pass < xq.n_tokens ? t0 + pass : xq.n_tokens;
    xb.resize((t1 - t0) * nb);
    PackSignedActs(xq, t0, t1, xb.data());
    for (size_t r0 = row_begin; r0 < row_end; r0 += kWeightTileRows) {
      const uint8_t* tile = tiles + r0 / kWeightTileRows * tile_bytes;
      for (size_t t = t0; t < t1; t += kTileTokens) {
        const size_t n = t1 - t < kTileTokens ? t1 - t : kTileTokens;
        kTiles[n](tile, nb, xb.data() + (t - t0) * nb, y + t * y_stride + r0, y_stride, ahead, end);
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
