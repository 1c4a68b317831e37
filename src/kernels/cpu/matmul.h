// Matrix products against stored weights: y = x · Wᵀ with W in its stored dtype (F32, F16,
// BF16, Q8_0, FP8 e4m3 with 128x128 block scales), decoded inside the dot-product loop, never
// copied. Shapes are PyTorch order:
// W is [rows=out, cols=in], x is [n_tokens, cols], y is [n_tokens, rows].
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>

#include "base/thread_pool.h"
#include "tensor/dtype.h"

namespace moe {

// How a matrix's bytes are ordered. kRows: row r at data + r * row_stride. kQ8_0Tiles16 and
// kBf16Tiles16: rows interleaved 16 at a time for the AVX-512 kernels, rewritten in place at
// load (weight_tiles.h); rows is a multiple of 16 and Row(r) is the start of r's tile only
// for r a multiple of 16. Every product below accepts all layouts; only the fast path reads
// tiles directly, the others untile the rows they need.
enum class WeightLayout : uint8_t { kRows, kQ8_0Tiles16, kBf16Tiles16 };

struct WeightMatrix {
  DType dtype = DType::kF32;
  const void* data = nullptr;
  size_t rows = 0;
  size_t cols = 0;
  size_t row_stride = 0;  // bytes between consecutive rows (>= RowBytes(dtype, cols))
  // kF8E4M3 only: the float32 block-scale grid of the whole stored tensor, [ceil(R / 128),
  // scale_stride] with scale_stride = ceil(cols / 128), and the row of the stored tensor that
  // this matrix's row 0 is (non-zero for row slices), so that row r's scales are grid row
  // (scale_row0 + r) / 128 whatever row a slice starts at.
  const float* scales = nullptr;
  size_t scale_stride = 0;
  size_t scale_row0 = 0;
  WeightLayout layout = WeightLayout::kRows;

  const void* Row(size_t r) const { return static_cast<const char*>(data) + r * row_stride; }
  // The ceil(cols / 128) block scales of row r (kF8E4M3).
  const float* RowScales(size_t r) const { return scales + (scale_row0 + r) / kF8Block * scale_stride; }
  // The row after the last one (at most `end`) that shares row r's block scales (kF8E4M3).
  size_t ScaleBlockEnd(size_t r, size_t end) const {
    return std::min(end, r + kF8Block - (scale_row0 + r) % kF8Block);
  }
  // Rows [begin, begin + n) as their own matrix (e.g. one head's slice of kv_b); of a tiled
  // matrix, whole tiles only (begin and n multiples of 16).
  WeightMatrix RowSlice(size_t begin, size_t n) const {
    return {dtype, Row(begin), n, cols, row_stride, scales, scale_stride, scale_row0 + begin, layout};
  }
};

// Row r of w as float32 (out: w.cols floats), block scales applied: the reference decoding
// for embedding lookups and load-time transforms.
void DequantizeWeightRow(const WeightMatrix& w, size_t r, float* out);

// y[t * y_stride + r] = Σ_c W[r, c] · x[t * x_stride + c] for t < n_tokens and
// row_begin <= r < row_end, on the calling thread. Activations stay float32 (the "exact" path).
void MatMulRows(const WeightMatrix& w, const float* x, size_t x_stride, size_t n_tokens,
                float* y, size_t y_stride, size_t row_begin, size_t row_end);

// y[t * y_stride + c] = Σ_r x[t * x_stride + r] · W[r, c] for t < n_tokens and c < w.cols:
// the product with W untransposed (its rows are the reduction, x has w.rows columns), on the
// calling thread, float32 activations. Each output sums its w.rows products in row order
// with FMA, whatever n_tokens. MLA applies W_UK (rows of kv_b) to queries this way.
void MatMulTransposed(const WeightMatrix& w, const float* x, size_t x_stride, size_t n_tokens,
                      float* y, size_t y_stride);

// MatMulTransposed on the fast path where there is one (UsesQuantizedActs): for Q8_0 weights
// each token's x[r] · (row r's block scale) is rounded to int8 per 32 rows and column block,
// and the products are exact int32 sums (matmul_q8_transposed.cc); for BF16 weights x is
// rounded to bf16 and pairs of rows feed vdpbf16ps (matmul_bf16_transposed.cc: attention's
// weighted sum over a bf16 cache); for FP8 each 128-row block's products sum over the
// weights' exact e4m3 values and are scaled once per block (matmul-inl.h); otherwise
// MatMulTransposed itself. A token's result depends only on its own row of x.
void MatMulTransposedQuantizedActs(const WeightMatrix& w, const float* x, size_t x_stride,
                                   size_t n_tokens, float* y, size_t y_stride);

// The whole product, split over the pool's threads by blocks of rows.
void MatMul(const WeightMatrix& w, const float* x, size_t n_tokens, float* y, ThreadPool& pool);

// Runs fn(begin, end) on the pool's threads over contiguous blocks of [0, rows) made of whole
// 16-row tiles (the Q8_0 kernels' interleaving): one block per thread, so each thread streams
// its own rows. Matrices under 32 rows stay on the calling thread.
void RowBlocksParallel(ThreadPool& pool, size_t rows,
                       const std::function<void(size_t, size_t)>& fn);

// ---- "fast" path: activations rounded to the weights' dot-product format ----
// Q8_0 weights x activations quantized per 32-column block (as ggml's quantize_row_q8_0:
// d = max|x| / 127, q = round(x / d), d stored as fp16); BF16 weights x activations rounded
// to bf16; FP8 weights x activations rounded to fp16 where the CPU has AVX512_FP16, else
// float32 activations, which the AVX512_BF16 kernel splits into two bf16 (hi + lo, 16
// significant bits). Products run as int8 (AVX-512 VNNI vpdpbusd), bf16 pairs (AVX512_BF16
// vdpbf16ps) or fp16 (AVX512_FP16 vfmadd231ph) dot products where the CPU has them, else on a
// portable path. Results differ from MatMulRows by the activation rounding (relative 2^-8 per
// element for bf16, 2^-11 for fp16, 2^-16 for the bf16 pair, up to d/2 = max|x|/254 absolute
// per element for Q8_0) and, for fp16, by a second rounding of the activations times the
// block scales and sums of 16 products per lane rounded to fp16 over each 512 columns
// (matmul_f8_fp16.cc).
//
// fp16 activations (kF16) are scaled per token by a power of two 2^k that brings the token's
// largest |x| into [2^10, 2^11), so they neither overflow nor lose small values to fp16's
// range: a row is cols fp16 values of x · 2^k, then at byte F16ActsScaleOffset(cols) the
// float 2^-k that undoes it (ActsRowBytes counts both).

// Activations in a fast-path format: token t's row at data + t * row_stride.
struct QuantizedActs {
  DType dtype = DType::kQ8_0;  // kQ8_0 (BlockQ8_0 per 32 columns), kBF16, kF16 (scaled), kF32
  const void* data = nullptr;
  size_t n_tokens = 0;
  size_t cols = 0;
  size_t row_stride = 0;  // bytes between tokens (>= ActsRowBytes(dtype, cols))
  // The rows are read once, from memory (attention's cached positions as the "tokens" of
  // a product with the queries as weights): kernels that can prefetch them ahead do (the
  // bf16 packing GEMM). Rounded activations of a layer, which stay in cache, leave it false.
  bool streamed = false;

  const void* Row(size_t t) const { return static_cast<const char*>(data) + t * row_stride; }
};

// Whether weights of this dtype have a fast path (Q8_0, BF16, FP8), and the format its
// activations are rounded to: Q8_0 blocks for Q8_0 weights, bf16 for BF16, fp16 (with
// AVX512_FP16) or float32 (kept; split into bf16 pairs by the kernel) for FP8.
bool HasFastActsPath(DType weights);
DType ActsDType(DType weights);
// Bytes of one token's rounded activations: RowBytes, plus the scale of a kF16 row.
size_t ActsRowBytes(DType acts, size_t cols);
inline size_t F16ActsScaleOffset(size_t cols) { return (2 * cols + 3) / 4 * 4; }
// The float 2^-k of token t of kF16 activations (1 for other formats).
float ActsScale(const QuantizedActs& xq, size_t t);
// Token t of rounded activations widened to float32 (scale applied): the values the fast
// path multiplies.
void DequantizeActs(const QuantizedActs& xq, size_t t, float* out);

// Whether the CPU (and OS) support AVX512_FP16, checked once from CPUID.
bool HasAvx512Fp16();

// Rounds rows of x ([n_tokens, cols] with stride x_stride floats) to `dtype` (kQ8_0, kBF16, kF32 or
// kF16) into out, which holds n_tokens * ActsRowBytes(dtype, cols) bytes; rows are packed.
QuantizedActs QuantizeActivations(DType dtype, const float* x, size_t x_stride, size_t n_tokens,
                                  size_t cols, void* out);
// Columns [c0, c1) of the same rounding (multiples of the format's block size), written to
// their place in out's packed rows of `cols`: for threads that each produce some columns of
// x to round them while they are still in their cache. The bytes equal those of rounding
// whole rows, for the formats whose rounding does not look across a row (all but kF16, whose
// rows share one scale).
bool RoundsColumnsApart(DType dtype);
void QuantizeActivationColumns(DType dtype, const float* x, size_t x_stride, size_t n_tokens, size_t cols,
                               size_t c0, size_t c1, void* out);

// Attention scores of a GQA group over a bf16 cache: y[t * y_stride + r] = q_t · k_r for the
// rows r of `keys` (BF16 rows: a KV head's cached keys) and the bf16 queries t (its query
// heads, any number). Where UsesQuantizedActs(kBF16) and cols is a multiple of 8, with
// vdpbf16ps, 4 queries per vector (scores_bf16.cc: a 16-row query tile would be a quarter
// full for a group of 4); otherwise the queries widened to float on the exact path. A
// score depends only on its query and key.
void GroupScores(const WeightMatrix& keys, const QuantizedActs& queries, float* y, size_t y_stride);
inline QuantizedActs QuantizeActivationsQ8_0(const float* x, size_t x_stride, size_t n_tokens,
                                             size_t cols, BlockQ8_0* out) {
  return QuantizeActivations(DType::kQ8_0, x, x_stride, n_tokens, cols, out);
}
inline QuantizedActs ToBf16(const float* x, size_t x_stride, size_t n_tokens, size_t cols,
                            uint16_t* out) {
  return QuantizeActivations(DType::kBF16, x, x_stride, n_tokens, cols, out);
}

// Which implementation runs the fast path. kPortable: the exact path's Highway kernels over
// the activations widened back to float32 (exact products). kAvx512: the intrinsics (callers
// must check HasAvx512Dot(); for FP8 weights UsesQuantizedActs(kF8E4M3), which also needs
// AVX512_FP16 (kF16 activations) or AVX512_VBMI (kF32 activations)).
// kBest: the faster of the two as measured on Intel Emerald Rapids: kAvx512 for Q8_0
// (vpdpbusd: 1.3x the exact path in decode, 4.7x in prefill) and for FP8 with fp16
// activations (vfmadd231ph: 1.2x in decode, bench/matmul_bench.cc), kPortable for BF16
// (vdpbf16ps issues at half the rate of FMA there, so widening and FMA beat it); and on AMD
// Zen 4 (AVX512_BF16, no AVX512_FP16) kAvx512 for FP8 with float32 activations split into
// bf16 pairs (1.2-1.5x the exact path in one-thread cold decode) and for BF16 (vdpbf16ps at
// the FMA's instruction rate: 2.1x the exact path in prefill, even in decode).
enum class DotImpl { kBest, kPortable, kAvx512 };
// The CPU (and OS) support avx512f/bw/vl/vnni/bf16, checked once from CPUID.
bool HasAvx512Dot();

// y[t * y_stride + r] = Σ_c W[r, c] · xq[t, c] for row_begin <= r < row_end; xq.dtype must be
// ActsDType(w.dtype) (same cols).
void MatMulRowsQuantizedActs(const WeightMatrix& w, const QuantizedActs& xq, float* y,
                             size_t y_stride, size_t row_begin, size_t row_end,
                             DotImpl impl = DotImpl::kBest);

// Whether MatMulQuantizedActs rounds activations for weights of this dtype on this CPU: only
// where that is faster than the exact path, i.e. Q8_0 weights with HasAvx512Dot(), BF16
// weights with HasAvx512Dot() on AMD (not Intel, see DotImpl), and FP8 weights with
// HasAvx512Fp16(), or AVX512_BF16 and AVX512_VBMI.
bool UsesQuantizedActs(DType weights);

// The whole product from float activations x ([n_tokens, w.cols]) on the fastest path: with
// UsesQuantizedActs(w.dtype), rounds x into a per-thread scratch buffer and runs
// MatMulRowsQuantizedActs split over the pool's threads; otherwise MatMul (exact).
void MatMulQuantizedActs(const WeightMatrix& w, const float* x, size_t n_tokens, float* y,
                         ThreadPool& pool);

namespace ref {
// Plain loops over dequantized rows: the specification the SIMD kernels are tested against.
void MatMulRows(const WeightMatrix& w, const float* x, size_t x_stride, size_t n_tokens,
                float* y, size_t y_stride, size_t row_begin, size_t row_end);
// MatMulTransposed's specification: dequantized rows, products summed in row order.
void MatMulTransposed(const WeightMatrix& w, const float* x, size_t x_stride, size_t n_tokens,
                      float* y, size_t y_stride);
// The fast path's specification, as ggml's vec_dot_q8_0_q8_0: per 32-block an exact int32
// sum of quant products times (d_w · d_x), summed in float; bf16 x bf16 products summed in
// float.
void MatMulRowsQuantizedActs(const WeightMatrix& w, const QuantizedActs& xq, float* y,
                             size_t y_stride, size_t row_begin, size_t row_end);
}  // namespace ref

}  // namespace moe
