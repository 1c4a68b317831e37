// Per-target bodies of the "exact" weight products of matmul.h: y = x · Wᵀ with float32
// activations, weights decoded to float32 in registers inside the dot loop (never a
// dequantized copy), float32 accumulation. Included once per Highway target by matmul.cc;
// other SIMD code may include it too (inside its own foreach_target pass).
//
// Register blocking: a tile is kR weight rows x kT tokens with kR * kT vector accumulators,
// so every decoded weight vector feeds kT FMAs (prefill reuses weights) and every activation
// vector kR FMAs. Decode (kT = 1) streams kR rows at once, which keeps enough loads in flight
// to run at memory bandwidth. Vectors live in small arrays, which needs sized vectors: true
// on every x86, NEON, WASM and scalar target (not SVE/RVV, which 1.0.3 cannot put in arrays).

#include "kernels/cpu/matmul_common.h"

#include <algorithm>
#include <cmath>
#include <limits>

// Per-target toggle guard (Highway's re-inclusion protocol).
#if defined(MOE_KERNELS_CPU_MATMUL_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef MOE_KERNELS_CPU_MATMUL_INL_H_
#undef MOE_KERNELS_CPU_MATMUL_INL_H_
#else
#define MOE_KERNELS_CPU_MATMUL_INL_H_
#endif

#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace moe::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Decode tiles prefetch into L2 (GCC/Clang locality 2: prefetcht1 on x86, pldl2keep on Arm),
// detail::kDecodePrefetchRows ahead.
HWY_INLINE void PrefetchL2(const void* p) { __builtin_prefetch(p, 0, 2); }

// ---- weight decoders: Lanes(d) weights of one row from column c, as float32 ----
// kBlock is the number of columns sharing one scale (1: no scale).

struct DecodeF32 {
  static constexpr size_t kBlock = 1;
  static constexpr size_t kBytes = 4;
  template <class D>
  static HWY_INLINE hn::Vec<D> Load(D d, const void* row, size_t c) {
    return hn::LoadU(d, static_cast<const float*>(row) + c);
  }
  static float At(const void* row, size_t c) { return detail::LoadAt<float>(row, c); }
};

struct DecodeF16 {
  static constexpr size_t kBlock = 1;
  static constexpr size_t kBytes = 2;
  template <class D>
  static HWY_INLINE hn::Vec<D> Load(D d, const void* row, size_t c) {
    const hn::Rebind<hwy::float16_t, D> dh;
    return hn::PromoteTo(d, hn::LoadU(dh, static_cast<const hwy::float16_t*>(row) + c));
  }
  static float At(const void* row, size_t c) {
    return detail::HalfToFloat(detail::LoadAt<uint16_t>(row, c));
  }
};

struct DecodeBF16 {
  static constexpr size_t kBlock = 1;
  static constexpr size_t kBytes = 2;
  template <class D>
  static HWY_INLINE hn::Vec<D> Load(D d, const void* row, size_t c) {
    const hn::Rebind<hwy::bfloat16_t, D> dh;
    return hn::PromoteTo(d, hn::LoadU(dh, static_cast<const hwy::bfloat16_t*>(row) + c));
  }
  static float At(const void* row, size_t c) {
    return Bf16ToF32(detail::LoadAt<uint16_t>(row, c));
  }
};

// Q8_0: value = d * qs[i]. d (fp16, 11 significant bits) times qs (8 bits) is exact in
// float32, so the decoded weight equals the reference's dequantized weight bit for bit.
struct DecodeQ8_0 {
  static constexpr size_t kBlock = kQ8_0Block;
  // Lanes(d) quantized weights at offset i (< 32) of block b, scaled by vd.
  template <class D>
  static HWY_INLINE hn::Vec<D> Load(D d, const void* row, size_t b, size_t i, hn::Vec<D> vd) {
    const hn::Rebind<int32_t, D> di32;
    const hn::Rebind<int8_t, D> di8;
    const int8_t* qs = static_cast<const BlockQ8_0*>(row)[b].qs + i;
    return hn::Mul(vd, hn::ConvertTo(d, hn::PromoteTo(di32, hn::LoadU(di8, qs))));
  }
  // The block's fp16 scale broadcast to all lanes, widened with the target's own conversion
  // (one vcvtph2ps with F16C) instead of the scalar bit manipulation.
  template <class D>
  static HWY_INLINE hn::Vec<D> Scale(D d, const void* row, size_t b) {
    const hn::CappedTag<hwy::float16_t, 1> dh1;
    const hn::CappedTag<float, 1> df1;
    const auto* h = reinterpret_cast<const hwy::float16_t*>(&static_cast<const BlockQ8_0*>(row)[b].d);
    return hn::Set(d, hn::GetLane(hn::PromoteTo(df1, hn::LoadU(dh1, h))));
  }
};

// FP8 e4m3fn with a float32 scale per 128x128 block, decoded two ways; both give the value
// times a power of two that is folded into the block scale, so (v · 2^k) · (s · 2^-k) rounds
// exactly as the reference's float32(v · s).
//  - LoadNormal (blocks whose codes all have exponent 1..15 and are not NaN, i.e. nearly all):
//    the sign-extended code shifted left by 20 holds the sign in bit 31 and exponent and
//    mantissa in bits 26..20; keeping those and setting bit 30 makes a float with exponent
//    e + 128, i.e. v · 2^8. Three integer ops, no conversion.
//  - Load (blocks with zero, subnormal or NaN codes): the low 7 bits shifted left by 7 are the
//    fp16 bits of v · 2^-8 (bias 7 vs 15; e4m3 subnormals land on fp16 subnormals, which the
//    f16 -> f32 conversion widens exactly), the sign moves to bit 15. NaN codes would come out
//    as ±1.875 (fp16 0x3F80), so they are found on the bytes (HasNaN) and make the row's
//    outputs NaN, as a NaN weight does in the reference.
struct DecodeF8 {
  static constexpr size_t kBlock = kF8Block;
  static constexpr size_t kBytes = 1;
  static constexpr float kNormalScale = 1.0f / 256;  // LoadNormal gives v · 2^8
  static constexpr float kScale = 256.0f;            // Load gives v · 2^-8
  template <class D>
  static HWY_INLINE hn::Vec<D> LoadNormal(D d, const void* row, size_t c) {
    const hn::Rebind<int8_t, D> di8;
    const hn::Rebind<int32_t, D> di32;
    const auto q = hn::PromoteTo(di32, hn::LoadU(di8, static_cast<const int8_t*>(row) + c));
    const auto keep = hn::Set(di32, static_cast<int32_t>(0x87F00000u));
    return hn::BitCast(d, hn::Or(hn::And(hn::ShiftLeft<20>(q), keep), hn::Set(di32, 0x40000000)));
  }
  template <class D>
  static HWY_INLINE hn::Vec<D> Load(D d, const void* row, size_t c) {
    const hn::Rebind<int8_t, D> di8;
    const hn::Rebind<int16_t, D> di16;
    const hn::Rebind<hwy::float16_t, D> dh;
    // Sign-extended, so after << 7 bits 15 and 14 both hold the sign; keep bit 15 and the
    // seven exponent/mantissa bits (13..7).
    const auto q = hn::PromoteTo(di16, hn::LoadU(di8, static_cast<const int8_t*>(row) + c));
    const auto bits = hn::And(hn::ShiftLeft<7>(q), hn::Set(di16, static_cast<int16_t>(0xBF80)));
    return hn::PromoteTo(d, hn::BitCast(dh, bits));
  }
  // Whether bytes [c0, c1) hold a code LoadNormal cannot decode: u = (code + 1) mod 128 is 0
  // for NaN and 1..8 for exponent 0 (zero and subnormals), so those are exactly u <= 8.
  static HWY_INLINE bool HasSpecial(const void* row, size_t c0, size_t c1) {
    const hn::ScalableTag<uint8_t> du8;
    const size_t n = hn::Lanes(du8);
    const auto* p = static_cast<const uint8_t*>(row);
    const auto one = hn::Set(du8, uint8_t{1}), low7 = hn::Set(du8, uint8_t{0x7F});
    const auto nine = hn::Set(du8, uint8_t{9});
    auto any = hn::FirstN(du8, 0);
    size_t c = c0;
    for (; c + n <= c1; c += n)
      any = hn::Or(any, hn::Lt(hn::And(hn::Add(hn::LoadU(du8, p + c), one), low7), nine));
    bool special = !hn::AllFalse(du8, any);
    for (; c < c1; ++c) special |= ((p[c] + 1) & 0x7F) <= 8;
    return special;
  }
  // Whether bytes [c0, c1) of a row hold a NaN code: full vectors of bytes, then a scalar tail.
  static HWY_INLINE bool HasNaN(const void* row, size_t c0, size_t c1) {
    const hn::ScalableTag<uint8_t> du8;
    const size_t n = hn::Lanes(du8);
    const auto* p = static_cast<const uint8_t*>(row);
    const auto low7 = hn::Set(du8, uint8_t{0x7F});
    auto any = hn::FirstN(du8, 0);
    size_t c = c0;
    for (; c + n <= c1; c += n) any = hn::Or(any, hn::Eq(hn::And(hn::LoadU(du8, p + c), low7), low7));
    bool nan = !hn::AllFalse(du8, any);
    for (; c < c1; ++c) nan |= (p[c] & 0x7F) == 0x7F;
    return nan;
  }
  static float At(const void* row, size_t c) { return F8E4M3ToF32(detail::LoadAt<uint8_t>(row, c)); }
};

// Vector type for Q8_0: at most 32 lanes so that a vector never straddles two blocks (lane
// counts are powers of two, so they divide 32). FP8 blocks (128) hold whole vectors anyway.
template <class Dec>
using FloatTag = std::conditional_t<std::is_same_v<Dec, DecodeQ8_0>, hn::CappedTag<float, kQ8_0Block>,
                                    hn::ScalableTag<float>>;

#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
// The lane sums of four 16-lane vectors as one 4-lane vector {Σa, Σb, Σc, Σd}: a transposing
// tree of 14 shuffles and adds instead of four ~8-op SumOfLanes (1.0.3 has no such op), which
// saves a tenth of a 4 x 6 tile over 1024 columns.
HWY_INLINE __m128 Sum4(__m512 a, __m512 b, __m512 c, __m512 d) {
  // Fold 256-bit halves: ab = {a folded, b folded}, cd likewise (8 lanes each).
  const __m512 ab = _mm512_add_ps(_mm512_shuffle_f32x4(a, b, 0x44), _mm512_shuffle_f32x4(a, b, 0xEE));
  const __m512 cd = _mm512_add_ps(_mm512_shuffle_f32x4(c, d, 0x44), _mm512_shuffle_f32x4(c, d, 0xEE));
  // Fold 128-bit blocks: block k holds 4 partial sums of the k-th input.
  const __m512 q = _mm512_add_ps(_mm512_shuffle_f32x4(ab, cd, 0x88), _mm512_shuffle_f32x4(ab, cd, 0xDD));
  // Sum within blocks, then gather lane 0 of each block.
  const __m512 p = _mm512_add_ps(q, _mm512_shuffle_ps(q, q, _MM_SHUFFLE(1, 0, 3, 2)));
  const __m512 s = _mm512_add_ps(p, _mm512_shuffle_ps(p, p, _MM_SHUFFLE(2, 3, 0, 1)));
  return _mm512_castps512_ps128(_mm512_permutexvar_ps(_mm512_setr_epi32(0, 4, 8, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), s));
}
#endif

// ---- FP8 tiles: per 128-column block, one scale per row (rows of a tile may fall in
// different block rows when a slice starts mid-block); the last block may be partial and end
// mid-vector. Each decoded vector is scaled before its products (the decoded weight is then
// the reference's bit for bit), in tiles of every width: summing a block's products unscaled
// and scaling once per block saved a multiply per weight vector in decode, but wide tiles
// have no registers for the per-block sums, and a token's result must not depend on the
// width of the tile it falls in (continuous batching).

// Products of columns [c0, c1) (whole vectors only; returns the first column left over).
template <bool kNormal, size_t kR, size_t kT, class D, class V>
HWY_INLINE size_t F8BlockProducts(D d, const void* const* rows, const float* const* xs, size_t c0,
                                  size_t c1, const V* vs, V (&acc)[kR][kT]) {
  constexpr bool kBlockSums = false;  // see above
  const size_t n = hn::Lanes(d);
  V part[kR][kT];
  for (size_t r = 0; r < kR; ++r)
    for (size_t t = 0; t < kT; ++t) part[r][t] = hn::Zero(d);
  size_t c = c0;
  for (; c + n <= c1; c += n) {
    V wv[kR];
    for (size_t r = 0; r < kR; ++r) {
      wv[r] = kNormal ? DecodeF8::LoadNormal(d, rows[r], c) : DecodeF8::Load(d, rows[r], c);
      if constexpr (!kBlockSums) wv[r] = hn::Mul(vs[r], wv[r]);
    }
    for (size_t t = 0; t < kT; ++t) {
      const V xv = hn::LoadU(d, xs[t] + c);
      for (size_t r = 0; r < kR; ++r) {
        if constexpr (kBlockSums) {
          part[r][t] = hn::MulAdd(wv[r], xv, part[r][t]);
        } else {
          acc[r][t] = hn::MulAdd(wv[r], xv, acc[r][t]);
        }
      }
    }
  }
  if constexpr (kBlockSums) {
    for (size_t r = 0; r < kR; ++r)
      for (size_t t = 0; t < kT; ++t) acc[r][t] = hn::MulAdd(part[r][t], vs[r], acc[r][t]);
  }
  return c;
}

template <size_t kR, size_t kT, class D, class V>
HWY_INLINE void F8Tile(D d, const WeightMatrix& w, size_t r0, const void* const* rows,
                       const float* const* xs, size_t ahead, V (&acc)[kR][kT],
                       float (&tail)[kR][kT]) {
  const float* scales[kR];
  for (size_t r = 0; r < kR; ++r) scales[r] = w.RowScales(r0 + r);
  bool nan[kR] = {};
  for (size_t c0 = 0, b = 0; c0 < w.cols; c0 += kF8Block, ++b) {
    const size_t c1 = c0 + kF8Block < w.cols ? c0 + kF8Block : w.cols;
    if constexpr (kT <= 2) {  // the block's two cache lines per row, `ahead` bytes on
      for (size_t r = 0; r < kR; ++r) {
        PrefetchL2(static_cast<const uint8_t*>(rows[r]) + c0 + ahead);
        PrefetchL2(static_cast<const uint8_t*>(rows[r]) + c0 + 64 + ahead);
      }
    }
    bool special = false;
    for (size_t r = 0; r < kR; ++r) special |= DecodeF8::HasSpecial(rows[r], c0, c1);
    V vs[kR];
    for (size_t r = 0; r < kR; ++r) {
      vs[r] = hn::Set(d, scales[r][b] * (special ? DecodeF8::kScale : DecodeF8::kNormalScale));
      if (special) nan[r] |= DecodeF8::HasNaN(rows[r], c0, c1);
    }
    size_t c = special ? F8BlockProducts<false, kR, kT>(d, rows, xs, c0, c1, vs, acc)
                       : F8BlockProducts<true, kR, kT>(d, rows, xs, c0, c1, vs, acc);
    for (; c < c1; ++c) {  // tail of the last block, shorter than one vector
      for (size_t r = 0; r < kR; ++r) {
        const float wc = DecodeF8::At(rows[r], c) * scales[r][b];
        for (size_t t = 0; t < kT; ++t) tail[r][t] += wc * xs[t][c];
      }
    }
  }
  for (size_t r = 0; r < kR; ++r)
    if (nan[r])
      for (size_t t = 0; t < kT; ++t) tail[r][t] = std::numeric_limits<float>::quiet_NaN();
}

// One tile: rows [r0, r0 + kR) x tokens [t0, t0 + kT), whole reduction.
template <class Dec, size_t kR, size_t kT>
HWY_NOINLINE void Tile(const WeightMatrix& w, size_t r0, const float* HWY_RESTRICT x,
                       size_t x_stride, size_t t0, float* HWY_RESTRICT y, size_t y_stride, size_t ahead) {
  const FloatTag<Dec> d;
  using V = hn::Vec<decltype(d)>;
  const size_t n = hn::Lanes(d);
  const size_t cols = w.cols;

  const void* rows[kR];
  for (size_t r = 0; r < kR; ++r) rows[r] = w.Row(r0 + r);
  const float* xs[kT];
  for (size_t t = 0; t < kT; ++t) xs[t] = x + (t0 + t) * x_stride;

  V acc[kR][kT];
  for (size_t r = 0; r < kR; ++r)
    for (size_t t = 0; t < kT; ++t) acc[r][t] = hn::Zero(d);
  float tail[kR][kT] = {};
  // `ahead`: software prefetch distance in bytes for narrow tiles (decode), see RowTiles.

  if constexpr (std::is_same_v<Dec, DecodeF8>) {
    F8Tile<kR, kT>(d, w, r0, rows, xs, ahead, acc, tail);
  } else if constexpr (Dec::kBlock > 1) {
    const size_t n_blocks = cols / Dec::kBlock;
    for (size_t b = 0; b < n_blocks; ++b) {
      V vd[kR];
      for (size_t r = 0; r < kR; ++r) {
        if constexpr (kT <= 2) {
          PrefetchL2(static_cast<const uint8_t*>(rows[r]) + b * sizeof(BlockQ8_0) + ahead);
        }
        vd[r] = Dec::Scale(d, rows[r], b);
      }
      for (size_t i = 0; i < Dec::kBlock; i += n) {
        V wv[kR];
        for (size_t r = 0; r < kR; ++r) wv[r] = Dec::Load(d, rows[r], b, i, vd[r]);
        for (size_t t = 0; t < kT; ++t) {
          const V xv = hn::LoadU(d, xs[t] + b * Dec::kBlock + i);
          for (size_t r = 0; r < kR; ++r) acc[r][t] = hn::MulAdd(wv[r], xv, acc[r][t]);
        }
      }
    }
  } else {
    size_t c = 0;
    for (; c + n <= cols; c += n) {
      // With up to four tokens the loop is bound by memory-level parallelism: prefetch (also
      // GQA attention, whose groups of 4 query heads score the cache's keys: +7% decode at
      // depth 2048 on qwen3moe-bench). Wider tiles reread rows from cache and skip it.
      if constexpr (kT <= 4) {
        for (size_t r = 0; r < kR; ++r) {
          PrefetchL2(static_cast<const uint8_t*>(rows[r]) + c * Dec::kBytes + ahead);
        }
      }
      V wv[kR];
      for (size_t r = 0; r < kR; ++r) wv[r] = Dec::Load(d, rows[r], c);
      for (size_t t = 0; t < kT; ++t) {
        const V xv = hn::LoadU(d, xs[t] + c);
        for (size_t r = 0; r < kR; ++r) acc[r][t] = hn::MulAdd(wv[r], xv, acc[r][t]);
      }
    }
    for (; c < cols; ++c) {  // tail shorter than one vector
      for (size_t r = 0; r < kR; ++r) {
        const float wc = Dec::At(rows[r], c);
        for (size_t t = 0; t < kT; ++t) tail[r][t] += wc * xs[t][c];
      }
    }
  }

  for (size_t t = 0; t < kT; ++t) {
    float* yt = y + (t0 + t) * y_stride + r0;
#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
    if constexpr (kR == 4) {
      const __m128 sums = Sum4(acc[0][t].raw, acc[1][t].raw, acc[2][t].raw, acc[3][t].raw);
      _mm_storeu_ps(yt, _mm_add_ps(sums, _mm_setr_ps(tail[0][t], tail[1][t], tail[2][t], tail[3][t])));
      continue;
    }
#endif
    for (size_t r = 0; r < kR; ++r) yt[r] = hn::GetLane(hn::SumOfLanes(d, acc[r][t])) + tail[r][t];
  }
}

// Tokens per tile: 6 where there are 32 vector registers (AVX-512: 4 x 6 accumulators, 4
// weight vectors and one activation vector fit), else 4. Wider tiles amortize the weight
// decoding (2 ops per vector for F16/BF16, 3 for Q8_0) over more FMAs.
#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
constexpr size_t kTileTokens = 6;
#else
constexpr size_t kTileTokens = 4;
#endif

// The last tile of a row group, kT = rest < kTileTokens tokens.
template <class Dec, size_t kR, size_t kT>
HWY_INLINE void LastTile(size_t rest, const WeightMatrix& w, size_t r0, const float* x,
                         size_t x_stride, size_t t0, float* y, size_t y_stride, size_t ahead) {
  if constexpr (kT > 0) {
    if (rest == kT) return Tile<Dec, kR, kT>(w, r0, x, x_stride, t0, y, y_stride, ahead);
    LastTile<Dec, kR, kT - 1>(rest, w, r0, x, x_stride, t0, y, y_stride, ahead);
  }
}

// Tiles of kR rows over tokens [t0, t1): full tiles, then one narrower tile for the rest.
// Narrow tiles (decode) prefetch the same columns kDecodePrefetchRows rows on: rows are
// usually consecutive, so this runs ahead of a sequential stream whose 4 interleaved row
// streams the hardware prefetcher alone follows poorly. Not past row_end (PrefetchOffset):
// for an expert's 64-row item, 16 rows more would be a quarter more traffic.
template <class Dec, size_t kR>
HWY_INLINE void RowTiles(const WeightMatrix& w, size_t r0, size_t row_end, const float* x, size_t x_stride,
                         size_t t0, size_t t1, float* y, size_t y_stride) {
  const size_t ahead = detail::PrefetchOffset(detail::kDecodePrefetchRows, kR, r0, row_end, w.row_stride);
  size_t t = t0;
  for (; t + kTileTokens <= t1; t += kTileTokens)
    Tile<Dec, kR, kTileTokens>(w, r0, x, x_stride, t, y, y_stride, ahead);
  LastTile<Dec, kR, kTileTokens - 1>(t1 - t, w, r0, x, x_stride, t, y, y_stride, ahead);
}

template <class Dec>
void MatMulRowsT(const WeightMatrix& w, const float* x, size_t x_stride, size_t n_tokens,
                 float* y, size_t y_stride, size_t row_begin, size_t row_end) {
  constexpr size_t kR = 4;
  const size_t pass = detail::TokensPerPass(w.cols, n_tokens);
  for (size_t t0 = 0; t0 < n_tokens; t0 += pass) {
    const size_t t1 = t0 + pass < n_tokens ? t0 + pass : n_tokens;
    size_t r = row_begin;
    for (; r + kR <= row_end; r += kR) RowTiles<Dec, kR>(w, r, row_end, x, x_stride, t0, t1, y, y_stride);
    for (; r < row_end; ++r) RowTiles<Dec, 1>(w, r, row_end, x, x_stride, t0, t1, y, y_stride);
  }
}

// ---- y = x · W (the weights' rows are the reduction): W_UK of MLA applied to queries ----
// Lanes run along W's columns (the outputs), rows stream one at a time: a tile is kT tokens x
// kV vectors of columns, each decoded weight vector feeds kT FMAs. Every output is
// fma(x[t, r], W[r, c], acc) for r = 0, 1, ... in order, whatever the tile, so a token's
// result does not depend on how many tokens share the call.

// Lanes(d) weights of row `row` (index r of w) from column c, decoded and scaled to float32
// (exact: the reference's dequantized values).
template <class Dec, class D>
HWY_INLINE hn::Vec<D> LoadScaled(D d, const WeightMatrix& w, size_t r, const void* row, size_t c) {
  if constexpr (std::is_same_v<Dec, DecodeQ8_0>) {
    return Dec::Load(d, row, c / kQ8_0Block, c % kQ8_0Block, Dec::Scale(d, row, c / kQ8_0Block));
  } else if constexpr (std::is_same_v<Dec, DecodeF8>) {
    // v · 2^-8 times (s · 2^8): the power of two is exact, so this is float32(v · s).
    return hn::Mul(Dec::Load(d, row, c), hn::Set(d, w.RowScales(r)[c / kF8Block] * Dec::kScale));
  } else {
    return Dec::Load(d, row, c);
  }
}

template <class Dec>
float AtScaled(const WeightMatrix& w, size_t r, size_t c) {
  const void* row = w.Row(r);
  if constexpr (std::is_same_v<Dec, DecodeQ8_0>) {
    const BlockQ8_0& b = static_cast<const BlockQ8_0*>(row)[c / kQ8_0Block];
    return detail::HalfToFloat(b.d) * b.qs[c % kQ8_0Block];
  } else if constexpr (std::is_same_v<Dec, DecodeF8>) {
    return Dec::At(row, c) * w.RowScales(r)[c / kF8Block];
  } else {
    return Dec::At(row, c);
  }
}

// A transposed tile's kT x kV accumulators: zeroed, and stored (all NaN where a weight of
// the tile was a NaN code) as y's tokens from t0 and columns from c0.
template <class D, class V, size_t kT, size_t kV>
HWY_INLINE void ZeroTile(D d, V (&acc)[kT][kV]) {
  for (size_t t = 0; t < kT; ++t)
    for (size_t v = 0; v < kV; ++v) acc[t][v] = hn::Zero(d);
}
template <class D, class V, size_t kT, size_t kV>
HWY_INLINE void StoreTile(D d, V (&acc)[kT][kV], bool nan, float* HWY_RESTRICT y, size_t y_stride, size_t t0,
                          size_t c0) {
  const size_t n = hn::Lanes(d);
  for (size_t t = 0; t < kT; ++t)
    for (size_t v = 0; v < kV; ++v)
      hn::StoreU(nan ? hn::Set(d, std::numeric_limits<float>::quiet_NaN()) : acc[t][v], d,
                 y + (t0 + t) * y_stride + c0 + v * n);
}

template <class Dec, size_t kT, size_t kV>
HWY_NOINLINE void TileT(const WeightMatrix& w, const float* HWY_RESTRICT x, size_t x_stride,
                        size_t t0, size_t c0, float* HWY_RESTRICT y, size_t y_stride) {
  const FloatTag<Dec> d;
  using V = hn::Vec<decltype(d)>;
  const size_t n = hn::Lanes(d);
  V acc[kT][kV];
  ZeroTile(d, acc);
  bool nan = false;  // FP8 NaN codes decode as finite values on the vector route
  for (size_t r = 0; r < w.rows; ++r) {
    const void* row = w.Row(r);
    V wv[kV];
    for (size_t v = 0; v < kV; ++v) wv[v] = LoadScaled<Dec>(d, w, r, row, c0 + v * n);
    if constexpr (std::is_same_v<Dec, DecodeF8>) nan |= DecodeF8::HasNaN(row, c0, c0 + kV * n);
    for (size_t t = 0; t < kT; ++t) {
      const V xv = hn::Set(d, x[(t0 + t) * x_stride + r]);
      for (size_t v = 0; v < kV; ++v) acc[t][v] = hn::MulAdd(xv, wv[v], acc[t][v]);
    }
  }
  StoreTile(d, acc, nan, y, y_stride, t0, c0);
}

template <class Dec, size_t kT, size_t kV>
HWY_INLINE void TilesT(const WeightMatrix& w, const float* x, size_t x_stride, size_t n_tokens,
                       size_t c0, float* y, size_t y_stride, size_t t = 0) {
  // Tokens from t in tiles of kT, then the rest (fewer than kT) as one narrower tile.
  for (; t + kT <= n_tokens; t += kT) TileT<Dec, kT, kV>(w, x, x_stride, t, c0, y, y_stride);
  if constexpr (kT > 1) {
    if (t < n_tokens) TilesT<Dec, kT - 1, kV>(w, x, x_stride, n_tokens, c0, y, y_stride, t);
  }
}

template <class Dec>
void MatMulTransposedT(const WeightMatrix& w, const float* x, size_t x_stride, size_t n_tokens,
                       float* y, size_t y_stride) {
  const FloatTag<Dec> d;
  const size_t n = hn::Lanes(d);
#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
  constexpr size_t kV = 4;  // 6 x 4 accumulators, 4 weight vectors, 1 broadcast: 29 of 32
#else
  constexpr size_t kV = 2;  // 4 x 2 + 2 + 1 of 16
#endif
  size_t c = 0;
  for (; c + kV * n <= w.cols; c += kV * n) TilesT<Dec, kTileTokens, kV>(w, x, x_stride, n_tokens, c, y, y_stride);
  for (; c + n <= w.cols; c += n) TilesT<Dec, kTileTokens, 1>(w, x, x_stride, n_tokens, c, y, y_stride);
  for (; c < w.cols; ++c) {  // columns short of a vector
    for (size_t t = 0; t < n_tokens; ++t) {
      float acc = 0;
      for (size_t r = 0; r < w.rows; ++r) acc = std::fma(x[t * x_stride + r], AtScaled<Dec>(w, r, c), acc);
      y[t * y_stride + c] = acc;
    }
  }
}

// FP8 on the fast path (MatMulTransposedQuantizedActs; MLA's W_UK product on DeepSeek's FP8
// kv_b): the block scales leave the loop. The rows of one 128-row block share each column
// block's scale, so a block's products sum over the weights' exact values v · 2^8
// (DecodeF8::LoadNormal: a widening and two integer ops per vector; rows whose columns hold
// zero, subnormal or NaN codes take Load, times 2^16), and each block's sum is added times
// s · 2^-8 once. The exact path widens through fp16 and multiplies every weight by its
// scale: one token on one Zen 4 core, 23 GFLOP/s against 29 here (transposed-fast/f8_e4m3,
// hot; 30-34 without the prefetch below); from DRAM 6 against 9-10 GB/s with it. In
// deepseek-v3-bench FP8 decode the product's share fell from 8.9% to 7.8% of the samples
// (Q8_0's VNNI W_UK: 3.7%): the slices are read once per token, row after row at a stride,
// and stay latency bound. Every output is, per block in row order, an FMA chain over the
// block's rows, then one FMA into the total, whatever the tile: a token's result depends
// neither on the batch nor on the tile's shape.
template <size_t kT, size_t kV>
HWY_NOINLINE void TileTF8(const WeightMatrix& w, const float* HWY_RESTRICT x, size_t x_stride, size_t t0,
                          size_t c0, float* HWY_RESTRICT y, size_t y_stride) {
  const FloatTag<DecodeF8> d;
  using V = hn::Vec<decltype(d)>;
  const size_t n = hn::Lanes(d);
  V acc[kT][kV];
  ZeroTile(d, acc);
  bool nan = false;  // NaN codes decode as finite values (Load)
  // The codes tested for each row: the 64 around the tile's (one vector on AVX-512; the
  // scans' scalar tails took 32-column tiles to a quarter of the speed).
  const size_t s0 = c0 / 64 * 64, s1 = std::min(w.cols, s0 + 64);
  // The first tile reads each row's first columns, row after row at the row stride, which
  // the hardware prefetchers barely follow (a cold 128 x 512 head slice came at 6 GB/s): it
  // pulls rows kAheadRows on into L2 whole, for itself and for the tiles of the other columns.
  constexpr size_t kAheadRows = 16;
  const bool first = c0 == 0 && t0 == 0;
  const auto prefetch_row = [&](size_t r) {
    for (size_t b = 0; b < w.cols; b += 64) PrefetchL2(static_cast<const uint8_t*>(w.Row(r)) + b);
  };
  if (first)
    for (size_t r = 0; r < kAheadRows && r < w.rows; ++r) prefetch_row(r);
  for (size_t r0 = 0; r0 < w.rows;) {
    const size_t r1 = w.ScaleBlockEnd(r0, w.rows);
    V blk[kT][kV];
    ZeroTile(d, blk);
    for (size_t r = r0; r < r1; ++r) {
      if (first && r + kAheadRows < w.rows) prefetch_row(r + kAheadRows);
      const void* row = w.Row(r);
      V wv[kV];
      if (!DecodeF8::HasSpecial(row, s0, s1)) {
        for (size_t v = 0; v < kV; ++v) wv[v] = DecodeF8::LoadNormal(d, row, c0 + v * n);
      } else {
        nan |= DecodeF8::HasNaN(row, s0, s1);
        const V up = hn::Set(d, DecodeF8::kScale * DecodeF8::kScale);  // v · 2^-8 -> v · 2^8
        for (size_t v = 0; v < kV; ++v) wv[v] = hn::Mul(DecodeF8::Load(d, row, c0 + v * n), up);
      }
      for (size_t t = 0; t < kT; ++t) {
        const V xv = hn::Set(d, x[(t0 + t) * x_stride + r]);
        for (size_t v = 0; v < kV; ++v) blk[t][v] = hn::MulAdd(xv, wv[v], blk[t][v]);
      }
    }
    const float* s = w.RowScales(r0);
    for (size_t v = 0; v < kV; ++v) {
      const V sv = hn::Set(d, s[(c0 + v * n) / kF8Block] * DecodeF8::kNormalScale);
      for (size_t t = 0; t < kT; ++t) acc[t][v] = hn::MulAdd(blk[t][v], sv, acc[t][v]);
    }
    r0 = r1;
  }
  StoreTile(d, acc, nan, y, y_stride, t0, c0);
}

template <size_t kT, size_t kV>
HWY_INLINE void TilesTF8(const WeightMatrix& w, const float* x, size_t x_stride, size_t n_tokens, size_t c0,
                         float* y, size_t y_stride, size_t t = 0) {
  for (; t + kT <= n_tokens; t += kT) TileTF8<kT, kV>(w, x, x_stride, t, c0, y, y_stride);
  if constexpr (kT > 1) {
    if (t < n_tokens) TilesTF8<kT - 1, kV>(w, x, x_stride, n_tokens, c0, y, y_stride, t);
  }
}

// TileTF8 over all columns in tiles of kT tokens x kV vectors, from column c; returns where
// whole vectors end.
template <size_t kT, size_t kV>
HWY_INLINE size_t ColumnsTF8(const WeightMatrix& w, const float* x, size_t x_stride, size_t n_tokens, float* y,
                             size_t y_stride) {
  const size_t n = hn::Lanes(FloatTag<DecodeF8>());
  size_t c = 0;
  for (; c + kV * n <= w.cols; c += kV * n) TilesTF8<kT, kV>(w, x, x_stride, n_tokens, c, y, y_stride);
  for (; c + n <= w.cols; c += n) TilesTF8<kT, 1>(w, x, x_stride, n_tokens, c, y, y_stride);
  return c;
}

// The product: TileTF8 tiles (with 32 registers, 4 vectors of one to three tokens, the
// decode's widest; from 4 tokens, 2 vectors of six tokens, which spread a row's decoding
// over more FMAs: 64 tokens on one Zen 4 core ran at 64 GFLOP/s with 3 x 4, below the exact
// path's 70), columns short of a vector in scalar code, folded the same way.
inline void MatMulTransposedF8Folded(const WeightMatrix& w, const float* x, size_t x_stride, size_t n_tokens,
                                     float* y, size_t y_stride) {
#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
  const size_t c = n_tokens >= 4 ? ColumnsTF8<6, 2>(w, x, x_stride, n_tokens, y, y_stride)
                                 : ColumnsTF8<3, 4>(w, x, x_stride, n_tokens, y, y_stride);
#else
  const size_t c = ColumnsTF8<2, 2>(w, x, x_stride, n_tokens, y, y_stride);  // 2 x 2 x 2 + 2 + 1 of 16
#endif
  for (size_t col = c; col < w.cols; ++col) {
    for (size_t t = 0; t < n_tokens; ++t) {
      float acc = 0;
      for (size_t r0 = 0; r0 < w.rows;) {
        const size_t r1 = w.ScaleBlockEnd(r0, w.rows);
        float blk = 0;
        for (size_t r = r0; r < r1; ++r) blk = std::fma(x[t * x_stride + r], DecodeF8::At(w.Row(r), col), blk);
        acc = std::fma(blk, w.RowScales(r0)[col / kF8Block], acc);
        r0 = r1;
      }
      y[t * y_stride + col] = acc;
    }
  }
}

inline void MatMulTransposedExact(const WeightMatrix& w, const float* x, size_t x_stride,
                                  size_t n_tokens, float* y, size_t y_stride) {
  switch (w.dtype) {
    case DType::kF32: return MatMulTransposedT<DecodeF32>(w, x, x_stride, n_tokens, y, y_stride);
    case DType::kF16: return MatMulTransposedT<DecodeF16>(w, x, x_stride, n_tokens, y, y_stride);
    case DType::kBF16: return MatMulTransposedT<DecodeBF16>(w, x, x_stride, n_tokens, y, y_stride);
    case DType::kQ8_0: return MatMulTransposedT<DecodeQ8_0>(w, x, x_stride, n_tokens, y, y_stride);
    case DType::kF8E4M3: return MatMulTransposedT<DecodeF8>(w, x, x_stride, n_tokens, y, y_stride);
  }
}

// float32 -> fp16 bits, rounding to nearest even, as the scalar F32ToF16 (dtype.cc) on
// every target: overflow to infinity, NaN to 0x7E00 with its sign, values under 2^-14 to
// subnormals (|x| · 2^24 rounded to an integer by adding and subtracting 2^23). Highway's
// DemoteTo would truncate on targets without F16C.
template <class D>
HWY_INLINE hn::Vec<hn::RebindToSigned<D>> F16BitsOf(D d, hn::Vec<D> v) {
  const hn::RebindToSigned<D> di;
  const auto u = hn::BitCast(di, v);
  const auto abs = hn::And(u, hn::Set(di, 0x7fffffff));
  // Normal: drop 13 mantissa bits, rebias the exponent (127 -> 15), round the rest to even.
  auto h = hn::Sub(hn::ShiftRight<13>(abs), hn::Set(di, (127 - 15) << 10));
  const auto rest = hn::And(abs, hn::Set(di, 0x1fff)), half = hn::Set(di, 0x1000);
  const auto odd = hn::Eq(hn::And(h, hn::Set(di, 1)), hn::Set(di, 1));
  h = hn::IfThenElse(hn::Or(hn::Gt(rest, half), hn::And(hn::Eq(rest, half), odd)), hn::Add(h, hn::Set(di, 1)), h);
  const auto magic = hn::Set(d, 8388608.0f);  // 2^23
  const auto scaled = hn::Mul(hn::BitCast(d, abs), hn::Set(d, 16777216.0f));  // 2^24
  const auto sub = hn::ConvertTo(di, hn::Sub(hn::Add(scaled, magic), magic));
  h = hn::IfThenElse(hn::Lt(abs, hn::Set(di, 0x38800000)), sub, h);
  h = hn::IfThenElse(hn::Gt(abs, hn::Set(di, 0x477fefff)), hn::Set(di, 0x7c00), h);  // >= 0x477ff000
  h = hn::IfThenElse(hn::Gt(abs, hn::Set(di, 0x7f800000)), hn::Set(di, 0x7e00), h);
  return hn::Or(h, hn::And(hn::ShiftRight<16>(u), hn::Set(di, 0x8000)));
}

// Activations to Q8_0 for the fast path, bit-identical to the scalar QuantizeRow (ggml's
// quantize_row_q8_0_ref) for finite x: d = max|x| / 127, id = 1 / d, q = round(x · id) with
// halves away from zero (lround; Highway's Round would take them to even). Rows of `cols` (a
// multiple of 32) floats, x_stride apart, into rows of cols / 32 blocks, out_stride blocks
// apart.
//
// The per-block scalars run over up to 16 blocks at once in vectors: each block's max goes
// to a small table, then the two divisions and the fp16 rounding of d are vector ops, and
// each block is rounded with its 1 / d from the table. One Zen 4 core, GB/s of input
// (quantize-acts/q8_0/48x1024): 7.9 with those scalars per block in scalar code (two
// divisions and the software fp16 conversion), 12.3 in vectors, 14.7 with the rounding
// below in two ops instead of seven.
inline void QuantizeRowsQ8_0(const float* HWY_RESTRICT x, size_t x_stride, size_t n_tokens,
                             size_t cols, BlockQ8_0* HWY_RESTRICT out, size_t out_stride) {
  constexpr size_t kGroup = 16;  // blocks per vector of scalars (at most)
  const hn::CappedTag<float, kQ8_0Block> d;
  const hn::Rebind<int32_t, decltype(d)> di32;
  const hn::Rebind<int8_t, decltype(d)> di8;
  const hn::CappedTag<float, kGroup> dg;
  const hn::RebindToSigned<decltype(dg)> dgi;
  const size_t n = hn::Lanes(d), ng = hn::Lanes(dg);
  // lround(v) = trunc(v ± h) for h the float just below 1/2 and |v| < 2^23: v ± 1/2 itself
  // would round 1/2 - 2^-25 up to 1, and no float rounds across an integer with h.
  const auto below_half = hn::Set(d, 0.49999997f);
  HWY_ALIGN float amax[kGroup], inv[kGroup];
  HWY_ALIGN int32_t scale_bits[kGroup];
  const size_t nb = cols / kQ8_0Block;
  for (size_t t = 0; t < n_tokens; ++t) {
    const float* xr = x + t * x_stride;
    BlockQ8_0* ob = out + t * out_stride;
    for (size_t k0 = 0; k0 < nb; k0 += ng) {
      const size_t kn = nb - k0 < ng ? nb - k0 : ng;
      for (size_t j = 0; j < ng; ++j) {
        auto vmax = hn::Zero(d);
        if (j < kn)
          for (size_t i = 0; i < kQ8_0Block; i += n)
            vmax = hn::Max(vmax, hn::Abs(hn::LoadU(d, xr + (k0 + j) * kQ8_0Block + i)));
        amax[j] = hn::GetLane(hn::MaxOfLanes(d, vmax));
      }
      const auto scale = hn::Div(hn::Load(dg, amax), hn::Set(dg, 127.0f));
      const auto nonzero = hn::Ne(scale, hn::Zero(dg));
      hn::Store(hn::IfThenElseZero(nonzero, hn::Div(hn::Set(dg, 1.0f), scale)), dg, inv);
      hn::Store(F16BitsOf(dg, scale), dgi, scale_bits);
      for (size_t j = 0; j < kn; ++j) {
        BlockQ8_0& b = ob[k0 + j];
        const float* xb = xr + (k0 + j) * kQ8_0Block;
        b.d = static_cast<uint16_t>(scale_bits[j]);
        const auto vinv = hn::Set(d, inv[j]);
        for (size_t i = 0; i < kQ8_0Block; i += n) {
          const auto v = hn::Mul(hn::LoadU(d, xb + i), vinv);
          hn::StoreU(hn::DemoteTo(di8, hn::ConvertTo(di32, hn::Add(v, hn::CopySign(below_half, v)))), di8, b.qs + i);
        }
      }
    }
  }
}

// Activations to bf16 for the fast path and bf16 caches, bit-identical to the scalar
// F32ToBf16 (dtype.h): round to nearest even, NaN kept quiet ((bits >> 16) | 0x40). Rows of
// `cols` floats, x_stride apart, into rows of cols bf16, out_stride apart.
inline void RoundRowsBf16(const float* HWY_RESTRICT x, size_t x_stride, size_t n_tokens, size_t cols,
                          uint16_t* HWY_RESTRICT out, size_t out_stride) {
  const hn::ScalableTag<float> d;
  const hn::RebindToSigned<decltype(d)> di;
  const hn::Rebind<uint16_t, decltype(d)> du16;
  const size_t n = hn::Lanes(d);
  for (size_t t = 0; t < n_tokens; ++t) {
    const float* xr = x + t * x_stride;
    uint16_t* o = out + t * out_stride;
    size_t c = 0;
    for (; c + n <= cols; c += n) {
      const auto u = hn::BitCast(di, hn::LoadU(d, xr + c));
      // Shifts are logical on the unsigned bits: ShiftRight of a signed vector would smear
      // the sign, so the top 16 bits are masked after.
      const auto lsb = hn::And(hn::ShiftRight<16>(u), hn::Set(di, 1));
      auto r = hn::And(hn::ShiftRight<16>(hn::Add(u, hn::Add(hn::Set(di, 0x7fff), lsb))), hn::Set(di, 0xffff));
      const auto nan = hn::Or(hn::And(hn::ShiftRight<16>(u), hn::Set(di, 0xffff)), hn::Set(di, 0x40));
      r = hn::IfThenElse(hn::Gt(hn::And(u, hn::Set(di, 0x7fffffff)), hn::Set(di, 0x7f800000)), nan, r);
      hn::StoreU(hn::DemoteTo(du16, r), du16, o + c);
    }
    for (; c < cols; ++c) o[c] = F32ToBf16(xr[c]);
  }
}

// Entry point exported by matmul.cc: one dispatch per call, then a switch on the dtype.
inline void MatMulRowsExact(const WeightMatrix& w, const float* x, size_t x_stride,
                            size_t n_tokens, float* y, size_t y_stride, size_t row_begin,
                            size_t row_end) {
  switch (w.dtype) {
    case DType::kF32:
      return MatMulRowsT<DecodeF32>(w, x, x_stride, n_tokens, y, y_stride, row_begin, row_end);
    case DType::kF16:
      return MatMulRowsT<DecodeF16>(w, x, x_stride, n_tokens, y, y_stride, row_begin, row_end);
    case DType::kBF16:
      return MatMulRowsT<DecodeBF16>(w, x, x_stride, n_tokens, y, y_stride, row_begin, row_end);
    case DType::kQ8_0:
      return MatMulRowsT<DecodeQ8_0>(w, x, x_stride, n_tokens, y, y_stride, row_begin, row_end);
    case DType::kF8E4M3:
      return MatMulRowsT<DecodeF8>(w, x, x_stride, n_tokens, y, y_stride, row_begin, row_end);
  }
}

}  // namespace moe::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // MOE_KERNELS_CPU_MATMUL_INL_H_
