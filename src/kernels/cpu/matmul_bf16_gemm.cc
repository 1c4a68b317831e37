// BF16 x bf16 products with AVX512_BF16 on rows interleaved 16 at a time, as the Q8_0 GEMM
// (matmul_q8_gemm.cc): one vector holds 16 weight rows (one per lane, a pair of consecutive
// columns each), so each vdpbf16ps takes one token's activation pair broadcast from memory,
// and the inner loop is one weight load and up to 8 dot products, with no horizontal sums.
// Where vdpbf16ps runs at twice the FMA rate (AMD Zen 4) this approaches the bf16 peak: 404
// GFLOP/s on 2 Zen 4 cores (4096x1024, 512 tokens) against 452-468 measured by moe bench and
// 193 for the exact path's widen-and-FMA.
//
// Every row and token, whatever the batch, is one float32 chain over the column pairs in
// order (lane r of the accumulator: acc = vdpbf16ps(acc, row r's pair p, x's pair p) for
// p = 0, 1, ...), so a token's result does not depend on how many tokens share the call
// (continuous batching relies on that; tests/model/batch_test.cc). Weights tiled at load
// (WeightLayout::kBf16Tiles16, weight_tiles.h) are stored as the packing below writes them
// and go straight to the same tiles; weights in rows take two routes:
// - 4 or more tokens: each 16-row tile is packed once per pass of tokens (a 16 x 16 dword
//   transpose per 32 columns, 64 shuffles per 1 KB of weights, against 16 vdpbf16ps per
//   token for the same columns) and reused by tiles of 8 tokens;
// - 1 to 3 tokens (decode): each block is transposed in registers and used at once; the
//   shuffles (4 per vdpbf16ps for one token) still outpace DRAM on 2 cores.
// Tiles of fewer than 16 rows (the end of a work item) run with zero rows in the missing
// lanes and store only their own.
#include <cstdint>
#include <vector>

#include "kernels/cpu/matmul_avx512.h"
#include "kernels/cpu/matmul_common.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#define MOE_BF16_GEMM __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,fma")))

namespace moe::detail {
namespace {

constexpr size_t kTileRows = 16;    // one per float lane
constexpr size_t kTileTokens = 8;   // 8 independent vdpbf16ps chains cover its latency
constexpr size_t kBlockCols = 32;   // one row's 64 bytes: 16 column pairs
constexpr size_t kMinPackTokens = 4;

// A tile's rows: n of them (n <= 16) from r0; the others read as zero.
struct TileRows {
  const uint16_t* row[kTileRows];
  size_t n;
  __mmask16 lanes;  // the n rows' lanes
  TileRows(const WeightMatrix& w, size_t r0, size_t row_end) : n(row_end - r0 < kTileRows ? row_end - r0 : kTileRows) {
    for (size_t r = 0; r < n; ++r) row[r] = static_cast<const uint16_t*>(w.Row(r0 + r));
    lanes = static_cast<__mmask16>((1u << n) - 1);
  }
};

// Columns [32 j, 32 j + 32) of the tile into q[0..15]: q[k] lane i = row i's column pair
// 16 j + k (bf16 2k, 2k + 1 as one dword); columns past `cols` and rows past n are zero.
MOE_BF16_GEMM inline void TransposeBlock(const TileRows& rows, size_t j, size_t cols, __m512i (&q)[16]) {
  const size_t c0 = j * kBlockCols;
  const __mmask32 m = cols - c0 >= kBlockCols ? ~__mmask32{0} : (__mmask32{1} << (cols - c0)) - 1;
  __m512i a[16], t[16], u[16];
  for (size_t i = 0; i < 16; ++i) a[i] = i < rows.n ? _mm512_maskz_loadu_epi16(m, rows.row[i] + c0) : _mm512_setzero_si512();
  // t[2m], t[2m + 1]: rows 2m, 2m + 1 interleaved, pairs 4L, 4L + 1 and 4L + 2, 4L + 3 of
  // each 128-bit block L.
  for (size_t i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_epi32(a[i], a[i + 1]);
    t[i + 1] = _mm512_unpackhi_epi32(a[i], a[i + 1]);
  }
  // u[4p + c] block L: rows 4p..4p+3 at pair 4L + c.
  for (size_t p = 0; p < 16; p += 4) {
    u[p + 0] = _mm512_unpacklo_epi64(t[p], t[p + 2]);
    u[p + 1] = _mm512_unpackhi_epi64(t[p], t[p + 2]);
    u[p + 2] = _mm512_unpacklo_epi64(t[p + 1], t[p + 3]);
    u[p + 3] = _mm512_unpackhi_epi64(t[p + 1], t[p + 3]);
  }
  // q[4L + c] = blocks L of u[c], u[4 + c], u[8 + c], u[12 + c].
  for (size_t c = 0; c < 4; ++c) {
    const __m512i s0 = _mm512_shuffle_i32x4(u[c], u[4 + c], 0x44);  // blocks 0, 1 of each
    const __m512i s1 = _mm512_shuffle_i32x4(u[c], u[4 + c], 0xEE);  // blocks 2, 3
    const __m512i s2 = _mm512_shuffle_i32x4(u[8 + c], u[12 + c], 0x44);
    const __m512i s3 = _mm512_shuffle_i32x4(u[8 + c], u[12 + c], 0xEE);
    q[c] = _mm512_shuffle_i32x4(s0, s2, 0x88);
    q[4 + c] = _mm512_shuffle_i32x4(s0, s2, 0xDD);
    q[8 + c] = _mm512_shuffle_i32x4(s1, s3, 0x88);
    q[12 + c] = _mm512_shuffle_i32x4(s1, s3, 0xDD);
  }
}

// Column pair p of a token's bf16 row (4 bytes from any 2-byte boundary), broadcast; the last
// pair of an odd row is (x, 0).
MOE_BF16_GEMM inline __m512bh PairAt(const uint16_t* x, size_t p, size_t cols) {
  uint32_t v = 0;
  if (2 * p + 1 < cols) {
    __builtin_memcpy(&v, x + 2 * p, 4);  // constant sizes: one load, not a call
  } else {
    __builtin_memcpy(&v, x + 2 * p, 2);
  }
  return reinterpret_cast<__m512bh>(_mm512_set1_epi32(static_cast<int>(v)));
}

template <size_t kT>
MOE_BF16_GEMM inline void Store(const __m512 (&acc)[kT], const TileRows& rows, float* y, size_t y_stride, size_t r0,
                                size_t t) {
  for (size_t k = 0; k < kT; ++k) _mm512_mask_storeu_ps(y + (t + k) * y_stride + r0, rows.lanes, acc[k]);
}

// Tokens t..t+kT-1 of xq against the packed tile. `ahead` > 0: prefetch that many bytes on
// into L2 (the stream of stored tiles, which the first group of tokens reads from memory).
// kStream (activations read once from memory, QuantizedActs::streamed): prefetch the next
// kT tokens' rows, a line every other pair. Attention's cached positions are such tokens:
// 8 rows of 1 KB read 4 bytes at a time are 8 short streams the hardware prefetchers barely
// follow; one Zen 4 core's MLA chunk over a cold bf16 cache ran at 132 GFLOP/s without this,
// 158-166 with it and 171-175 with the first group prefetched before the tile is packed
// (187-198 hot; mla-cache-fast/bf16/chunk:128).
template <size_t kT, bool kStream = false>
MOE_BF16_GEMM void PackedTile(const __m512i* packed, size_t cols, const QuantizedActs& xq, size_t t,
                              const TileRows& rows, float* y, size_t y_stride, size_t r0, size_t ahead = 0) {
  const uint16_t* x[kT];
  for (size_t k = 0; k < kT; ++k) x[k] = static_cast<const uint16_t*>(xq.Row(t + k));
  __m512 acc[kT];
  for (size_t k = 0; k < kT; ++k) acc[k] = _mm512_setzero_ps();
  const size_t n_pairs = (cols + 1) / 2, row_lines = (cols * sizeof(uint16_t) + 63) / 64;
  const bool next = kStream && t + 2 * kT <= xq.n_tokens;
  for (size_t p = 0; p < n_pairs; ++p) {
    if (ahead != 0) _mm_prefetch(reinterpret_cast<const char*>(packed + p) + ahead, _MM_HINT_T1);
    if (next && p % 2 == 0 && p / 2 / kT < row_lines)
      _mm_prefetch(static_cast<const char*>(xq.Row(t + kT + p / 2 % kT)) + p / 2 / kT * 64, _MM_HINT_T0);
    const __m512bh w = reinterpret_cast<__m512bh>(_mm512_loadu_si512(packed + p));
    for (size_t k = 0; k < kT; ++k) acc[k] = _mm512_dpbf16_ps(acc[k], w, PairAt(x[k], p, cols));
  }
  Store<kT>(acc, rows, y, y_stride, r0, t);
}

// Pairs p0 .. p0 + 15 (those below n_pairs) of one block, q[i] = pair p0 + i of the 16 rows,
// into each token's chain. A constant trip count, unrolled, keeps q in registers: with the
// pair loop bounded by n_pairs GCC 12 stored the 16 vectors to the stack and reloaded one per
// product for 2 and 3 tokens.
template <size_t kT>
MOE_BF16_GEMM inline void AddBlock(const __m512i (&q)[16], const uint16_t* const (&x)[kT], size_t p0, size_t n_pairs,
                                   size_t cols, __m512 (&acc)[kT]) {
#pragma GCC unroll 16
  for (size_t i = 0; i < 16; ++i) {
    if (p0 + i >= n_pairs) break;
#pragma GCC unroll 4
    for (size_t k = 0; k < kT; ++k)
      acc[k] = _mm512_dpbf16_ps(acc[k], reinterpret_cast<__m512bh>(q[i]), PairAt(x[k], p0 + i, cols));
  }
}

// Tokens t .. t1 - 1 (fewer than 8) against the packed tile.
void PackedTail(const __m512i* packed, size_t cols, const QuantizedActs& xq, size_t t, size_t t1, const TileRows& rows,
                float* y, size_t y_stride, size_t r0, size_t ahead = 0) {
  switch (t1 - t) {
    case 7: PackedTile<7>(packed, cols, xq, t, rows, y, y_stride, r0, ahead); break;
    case 6: PackedTile<6>(packed, cols, xq, t, rows, y, y_stride, r0, ahead); break;
    case 5: PackedTile<5>(packed, cols, xq, t, rows, y, y_stride, r0, ahead); break;
    case 4: PackedTile<4>(packed, cols, xq, t, rows, y, y_stride, r0, ahead); break;
    case 3: PackedTile<3>(packed, cols, xq, t, rows, y, y_stride, r0, ahead); break;
    case 2: PackedTile<2>(packed, cols, xq, t, rows, y, y_stride, r0, ahead); break;
    case 1: PackedTile<1>(packed, cols, xq, t, rows, y, y_stride, r0, ahead); break;
    default: break;
  }
}

// 1 to 3 tokens from t0: every block transposed in registers and used at once. `ahead`:
// bytes from a row to the row whose columns the tile prefetches into L2 (0: none).
template <size_t kT>
MOE_BF16_GEMM void DecodeTile(const TileRows& rows, size_t cols, const QuantizedActs& xq, size_t t0, float* y,
                              size_t y_stride, size_t r0, size_t ahead) {
  const uint16_t* x[kT];
  for (size_t k = 0; k < kT; ++k) x[k] = static_cast<const uint16_t*>(xq.Row(t0 + k));
  __m512 acc[kT];
  for (size_t k = 0; k < kT; ++k) acc[k] = _mm512_setzero_ps();
  const size_t blocks = (cols + kBlockCols - 1) / kBlockCols, n_pairs = (cols + 1) / 2;
  for (size_t j = 0; j < blocks; ++j) {
    if (ahead != 0)
      for (size_t r = 0; r < rows.n; ++r)
        _mm_prefetch(reinterpret_cast<const char*>(rows.row[r] + j * kBlockCols) + ahead, _MM_HINT_T1);
    __m512i q[16];
    TransposeBlock(rows, j, cols, q);
    AddBlock<kT>(q, x, j * (kBlockCols / 2), n_pairs, cols, acc);
  }
  Store<kT>(acc, rows, y, y_stride, r0, t0);
}

// The same chain on a tile stored as PackTile writes it (WeightLayout::kBf16Tiles16: cols
// a multiple of 32, 16 rows): the block's vectors are loaded as they are. Tiles follow each
// other, one forward stream that the hardware prefetchers follow; prefetching the next tile
// as the row layout does held one Zen 4 core to 24-26 GB/s from DRAM, without it 32-33
// (decode-fast/bf16-tiled/4096x1024/cold/threads:1).
template <size_t kT>
MOE_BF16_GEMM void DecodeTiled(const __m512i* tile, size_t cols, const QuantizedActs& xq, float* y, size_t y_stride) {
  const uint16_t* x[kT];
  for (size_t k = 0; k < kT; ++k) x[k] = static_cast<const uint16_t*>(xq.Row(k));
  __m512 acc[kT];
  for (size_t k = 0; k < kT; ++k) acc[k] = _mm512_setzero_ps();
  const size_t n_pairs = cols / 2;
  for (size_t j = 0; j < cols / kBlockCols; ++j) {
    const __m512i* block = tile + 16 * j;
    __m512i q[16];
#pragma GCC unroll 16
    for (size_t i = 0; i < 16; ++i) q[i] = _mm512_loadu_si512(block + i);
    AddBlock<kT>(q, x, j * (kBlockCols / 2), n_pairs, cols, acc);
  }
  for (size_t k = 0; k < kT; ++k) _mm512_storeu_ps(y + k * y_stride, acc[k]);
}

void Decode(const WeightMatrix& w, const QuantizedActs& xq, float* y, size_t y_stride, size_t row_begin,
            size_t row_end) {
  for (size_t r0 = row_begin; r0 < row_end; r0 += kTileRows) {
    const TileRows rows(w, r0, row_end);
    const size_t ahead = PrefetchOffset(kTileRows, kTileRows, r0, row_end, w.row_stride);  // the next tile
    switch (xq.n_tokens) {
      case 3: DecodeTile<3>(rows, w.cols, xq, 0, y, y_stride, r0, ahead); break;
      case 2: DecodeTile<2>(rows, w.cols, xq, 0, y, y_stride, r0, ahead); break;
      default: DecodeTile<1>(rows, w.cols, xq, 0, y, y_stride, r0, ahead); break;
    }
  }
}

// Stored tiles are streamed from memory by eight tokens' vdpbf16ps per vector, which leave
// the hardware prefetchers behind: every group of tokens prefetches 8 KiB on into L2. On
// Zen 4, 1408x1024 x 48 tokens from DRAM, 2 threads: 345-349 -> 377-393 GFLOP/s (2 KiB
// ahead: no gain; only the first group of a tile prefetching: 362).
constexpr size_t kTiledPrefillAhead = 8192;

// Tiled weights: the tiles are PackTile's output already, for decode and prefill alike.
void Tiled(const WeightMatrix& w, const QuantizedActs& xq, float* y, size_t y_stride, size_t row_begin,
           size_t row_end) {
  const size_t tile_bytes = kTileRows * w.row_stride;
  const auto tile = [&](size_t r0) {
    return reinterpret_cast<const __m512i*>(static_cast<const char*>(w.data) + r0 / kTileRows * tile_bytes);
  };
  if (xq.n_tokens < kMinPackTokens) {
    for (size_t r0 = row_begin; r0 < row_end; r0 += kTileRows) {
      switch (xq.n_tokens) {
        case 3: DecodeTiled<3>(tile(r0), w.cols, xq, y + r0, y_stride); break;
        case 2: DecodeTiled<2>(tile(r0), w.cols, xq, y + r0, y_stride); break;
        default: DecodeTiled<1>(tile(r0), w.cols, xq, y + r0, y_stride); break;
      }
    }
    return;
  }
  const size_t pass = TokensPerPass(w.cols / 2 + 1, xq.n_tokens);  // as the packing GEMM below
  for (size_t t0 = 0; t0 < xq.n_tokens; t0 += pass) {
    const size_t t1 = t0 + pass < xq.n_tokens ? t0 + pass : xq.n_tokens;
    for (size_t r0 = row_begin; r0 < row_end; r0 += kTileRows) {
      const TileRows rows(w, r0, row_end);
      size_t t = t0;
      for (; t + kTileTokens <= t1; t += kTileTokens)
        PackedTile<kTileTokens>(tile(r0), w.cols, xq, t, rows, y, y_stride, r0, kTiledPrefillAhead);
      PackedTail(tile(r0), w.cols, xq, t, t1, rows, y, y_stride, r0, kTiledPrefillAhead);
    }
  }
}

MOE_BF16_GEMM void PackTile(const TileRows& rows, size_t cols, __m512i* out) {
  const size_t blocks = (cols + kBlockCols - 1) / kBlockCols;
  for (size_t j = 0; j < blocks; ++j) {
    __m512i q[16];
    TransposeBlock(rows, j, cols, q);
    for (size_t k = 0; k < 16; ++k) _mm512_store_si512(out + 16 * j + k, q[k]);
  }
}

}  // namespace

void MatMulRowsBf16Gemm(const WeightMatrix& w, const QuantizedActs& xq, float* y, size_t y_stride,
                        size_t row_begin, size_t row_end) {
  if (w.layout == WeightLayout::kBf16Tiles16) return Tiled(w, xq, y, y_stride, row_begin, row_end);
  if (xq.n_tokens < kMinPackTokens) return Decode(w, xq, y, y_stride, row_begin, row_end);
  const size_t blocks = (w.cols + kBlockCols - 1) / kBlockCols;
  struct alignas(64) Vec {
    __m512i v;
  };
  thread_local std::vector<Vec> packed;  // (a vector of __m512i would drop its alignment)
  packed.resize(blocks * 16);
  __m512i* pk = &packed.data()->v;
  if (xq.streamed) {  // the first tokens' rows arrive while the tile is packed
    for (size_t t = 0; t < kTileTokens && t < xq.n_tokens; ++t)
      for (size_t b = 0; b < w.cols * sizeof(uint16_t); b += 64)
        _mm_prefetch(static_cast<const char*>(xq.Row(t)) + b, _MM_HINT_T0);
  }
  // Passes of tokens whose activations stay in L2 next to the packed tile.
  const size_t pass = TokensPerPass(w.cols / 2 + 1, xq.n_tokens);
  for (size_t t0 = 0; t0 < xq.n_tokens; t0 += pass) {
    const size_t t1 = t0 + pass < xq.n_tokens ? t0 + pass : xq.n_tokens;
    for (size_t r0 = row_begin; r0 < row_end; r0 += kTileRows) {
      const TileRows rows(w, r0, row_end);
      PackTile(rows, w.cols, pk);
      size_t t = t0;
      for (; t + kTileTokens <= t1; t += kTileTokens) {
        if (xq.streamed) {
          PackedTile<kTileTokens, true>(pk, w.cols, xq, t, rows, y, y_stride, r0);
        } else {
          PackedTile<kTileTokens>(pk, w.cols, xq, t, rows, y, y_stride, r0);
        }
      }
      PackedTail(pk, w.cols, xq, t, t1, rows, y, y_stride, r0);
    }
  }
}

bool CpuBf16DotAtTwiceFmaRate() {
  // AMD Zen 4 and 5 issue one 512-bit vdpbf16ps per cycle, as many as 512-bit FMAs (32 bf16
  // products each against 16): moe bench measured 452-468 GFLOP/s bf16 against 232 float32
  // FMA on 2 Zen 4 cores. Intel's AVX512_BF16 CPUs issue it at half that rate, where widening
  // to float32 and FMA is as fast and exact (DotImpl in matmul.h).
  static const bool fast = [] {
    __builtin_cpu_init();
    return __builtin_cpu_is("amd") != 0;
  }();
  return fast;
}

}  // namespace moe::detail

#else  // not x86-64 GCC/Clang: no intrinsic path

namespace moe::detail {
void MatMulRowsBf16Gemm(const WeightMatrix&, const QuantizedActs&, float*, size_t, size_t, size_t) {}
bool CpuBf16DotAtTwiceFmaRate() { return false; }
}  // namespace moe::detail

#endif
