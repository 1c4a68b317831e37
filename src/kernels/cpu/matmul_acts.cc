// The fast path of matmul.h (weights x activations rounded to bf16 or Q8_0): activation
// rounding, the choice between the AVX-512 intrinsics (matmul_avx512.cc) and the portable
// path, and the threaded whole product.
//
// The portable path widens the rounded activations back to float32, which is exact (bf16 ->
// f32 shifts bits; a Q8_0 value d·q is an fp16 times an int8, 19 significant bits), and runs
// the exact path's Highway kernels: the products are then the same real numbers as the
// reference's, and only the summation order differs.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "base/check.h"
#include "kernels/cpu/matmul.h"
#include "kernels/cpu/matmul_avx512.h"
#include "kernels/cpu/matmul_common.h"
#include "kernels/cpu/weight_tiles.h"

namespace moe {

bool HasFastActsPath(DType weights) {
  return weights == DType::kQ8_0 || weights == DType::kBF16 || weights == DType::kF8E4M3;
}

DType ActsDType(DType weights) {
  if (weights == DType::kQ8_0) return DType::kQ8_0;
  // FP8 without AVX512_FP16: float32, which the AVX512_BF16 kernel splits into two bf16.
  if (weights == DType::kF8E4M3) return HasAvx512Fp16() ? DType::kF16 : DType::kF32;
  return DType::kBF16;
}

size_t ActsRowBytes(DType acts, size_t cols) {
  return acts == DType::kF16 ? F16ActsScaleOffset(cols) + sizeof(float) : RowBytes(acts, cols);
}

float ActsScale(const QuantizedActs& xq, size_t t) {
  if (xq.dtype != DType::kF16) return 1.0f;
  float s;
  std::memcpy(&s, static_cast<const char*>(xq.Row(t)) + F16ActsScaleOffset(xq.cols), sizeof s);
  return s;
}

void DequantizeActs(const QuantizedActs& xq, size_t t, float* out) {
  DequantizeRow(xq.dtype, xq.Row(t), xq.cols, out);
  const float s = ActsScale(xq, t);
  if (s != 1.0f)
    for (size_t c = 0; c < xq.cols; ++c) out[c] *= s;
}

namespace {

// One token to kF16: x · 2^k in fp16 with max|x · 2^k| in [2^10, 2^11), then 2^-k. Tokens
// that are all zero, or hold inf/NaN, keep k = 0 (non-finite values stay non-finite).
void ToScaledF16Row(const float* x, size_t cols, void* out) {
  float amax = 0;
  for (size_t c = 0; c < cols; ++c) amax = std::max(amax, std::fabs(x[c]));
  int e = 0;  // amax = f · 2^e with f in [0.5, 1)
  if (amax > 0 && std::isfinite(amax)) std::frexp(amax, &e);
  const int k = amax > 0 && std::isfinite(amax) ? std::clamp(11 - e, -100, 100) : 0;
  const float scale = std::ldexp(1.0f, k), inv = std::ldexp(1.0f, -k);
  auto* h = static_cast<uint16_t*>(out);
  if (!detail::ToF16RowAvx512(x, cols, scale, h))
    for (size_t c = 0; c < cols; ++c) h[c] = F32ToF16(x[c] * scale);
  std::memcpy(static_cast<char*>(out) + F16ActsScaleOffset(cols), &inv, sizeof inv);
}

}  // namespace

QuantizedActs QuantizeActivations(DType dtype, const float* x, size_t x_stride, size_t n_tokens,
                                  size_t cols, void* out) {
  MOE_CHECK(dtype == DType::kQ8_0 || dtype == DType::kBF16 || dtype == DType::kF16 || dtype == DType::kF32);
  MOE_CHECK(cols % BlockSize(dtype) == 0);
  const size_t row_bytes = ActsRowBytes(dtype, cols);
  if (RoundsColumnsApart(dtype)) {
    QuantizeActivationColumns(dtype, x, x_stride, n_tokens, cols, 0, cols, out);
  } else {  // kF16: one scale per row
    for (size_t t = 0; t < n_tokens; ++t)
      ToScaledF16Row(x + t * x_stride, cols, static_cast<char*>(out) + t * row_bytes);
  }
  return {dtype, out, n_tokens, cols, row_bytes};
}

bool RoundsColumnsApart(DType dtype) { return dtype != DType::kF16; }

void QuantizeActivationColumns(DType dtype, const float* x, size_t x_stride, size_t n_tokens, size_t cols,
                               size_t c0, size_t c1, void* out) {
  MOE_CHECK(RoundsColumnsApart(dtype) && c0 <= c1 && c1 <= cols);
  MOE_CHECK(c0 % BlockSize(dtype) == 0 && c1 % BlockSize(dtype) == 0);
  const size_t row_bytes = ActsRowBytes(dtype, cols);
  char* o = static_cast<char*>(out) + RowBytes(dtype, c0);
  if (dtype == DType::kQ8_0) {
    detail::QuantizeRowsQ8_0(x + c0, x_stride, n_tokens, c1 - c0, reinterpret_cast<BlockQ8_0*>(o),
                             row_bytes / sizeof(BlockQ8_0));
  } else if (dtype == DType::kBF16) {
    detail::RoundRowsBf16(x + c0, x_stride, n_tokens, c1 - c0, reinterpret_cast<uint16_t*>(o), row_bytes / 2);
  } else {  // kF32
    for (size_t t = 0; t < n_tokens; ++t) std::memcpy(o + t * row_bytes, x + t * x_stride + c0, (c1 - c0) * 4);
  }
}

bool HasAvx512Dot() {
  static const bool has = detail::CpuHasAvx512Dot();
  return has;
}

bool HasAvx512Fp16() { return detail::CpuHasAvx512Fp16(); }

namespace {

void PortableRows(const WeightMatrix& w, const QuantizedActs& xq, float* y, size_t y_stride,
                  size_t row_begin, size_t row_end) {
  thread_local std::vector<float> widened;
  widened.resize(xq.n_tokens * xq.cols);
  for (size_t t = 0; t < xq.n_tokens; ++t) DequantizeActs(xq, t, widened.data() + t * xq.cols);
  MatMulRows(w, widened.data(), xq.cols, xq.n_tokens, y, y_stride, row_begin, row_end);
}

}  // namespace

void MatMulRowsQuantizedActs(const WeightMatrix& w, const QuantizedActs& xq, float* y,
                             size_t y_stride, size_t row_begin, size_t row_end, DotImpl impl) {
  MOE_CHECK(HasFastActsPath(w.dtype) && xq.dtype == ActsDType(w.dtype) && xq.cols == w.cols);
  if (row_begin >= row_end || xq.n_tokens == 0) return;
  if (impl == DotImpl::kBest) impl = UsesQuantizedActs(w.dtype) ? DotImpl::kAvx512 : DotImpl::kPortable;
  if (impl == DotImpl::kAvx512 && xq.dtype == DType::kF16) {
    MOE_CHECK(HasAvx512Fp16());
    detail::MatMulRowsF8Fp16(w, xq, y, y_stride, row_begin, row_end);
    return;
  }
  if (impl == DotImpl::kAvx512) {
    MOE_CHECK(HasAvx512Dot());
    MOE_CHECK(w.layout == WeightLayout::kRows || (row_begin % kWeightTileRows == 0 && row_end % kWeightTileRows == 0));
    if (w.layout == WeightLayout::kQ8_0Tiles16) {
      detail::MatMulRowsQ8_0Tiled(w, xq, y, y_stride, row_begin, row_end);
    } else if (w.dtype == DType::kQ8_0) {
      // Whole 16-row tiles on the interleaved kernels, the last rows (fewer than 16) on the
      // row-tile kernels.
      const size_t r = row_begin + (row_end - row_begin) / 16 * 16;
      detail::MatMulRowsQ8_0Gemm(w, xq, y, y_stride, row_begin, r);
      if (r < row_end) detail::MatMulRowsQ8_0Avx512(w, xq, y, y_stride, r, row_end);
    } else if (w.dtype == DType::kF8E4M3) {
      MOE_CHECK(detail::CpuHasF8Bf16());
      detail::MatMulRowsF8Bf16(w, xq, y, y_stride, row_begin, row_end);
    } else {
      detail::MatMulRowsBf16Gemm(w, xq, y, y_stride, row_begin, row_end);
    }
    return;
  }
  PortableRows(w, xq, y, y_stride, row_begin, row_end);
}

void MatMulTransposedQuantizedActs(const WeightMatrix& w, const float* x, size_t x_stride,
                                   size_t n_tokens, float* y, size_t y_stride) {
  if (!UsesQuantizedActs(w.dtype) || n_tokens == 0 || w.rows == 0)
    return MatMulTransposed(w, x, x_stride, n_tokens, y, y_stride);
  if (w.dtype == DType::kF8E4M3) return detail::MatMulTransposedF8Folded(w, x, x_stride, n_tokens, y, y_stride);
  std::vector<uint8_t> buf;  // tiled: untiled whole
  const WeightMatrix rows = RowMajorRows(w, 0, w.rows, buf);
  if (w.dtype == DType::kQ8_0) {
    detail::MatMulTransposedQ8_0Vnni(rows, x, x_stride, n_tokens, y, y_stride);
  } else {
    detail::MatMulTransposedBf16(rows, x, x_stride, n_tokens, y, y_stride);
  }
}

void GroupScores(const WeightMatrix& keys, const QuantizedActs& queries, float* y, size_t y_stride) {
  MOE_CHECK(keys.dtype == DType::kBF16 && keys.layout == WeightLayout::kRows && queries.dtype == DType::kBF16 &&
            queries.cols == keys.cols);
  if (keys.rows == 0 || queries.n_tokens == 0) return;
  if (UsesQuantizedActs(DType::kBF16) && keys.cols % 8 == 0) return detail::GroupScoresBf16(keys, queries, y, y_stride);
  PortableRows(keys, queries, y, y_stride, 0, keys.rows);
}

bool UsesQuantizedActs(DType weights) {
  return (weights == DType::kQ8_0 && HasAvx512Dot()) ||
         (weights == DType::kBF16 && HasAvx512Dot() && detail::CpuBf16DotAtTwiceFmaRate()) ||
         (weights == DType::kF8E4M3 && (HasAvx512Fp16() || detail::CpuHasF8Bf16()));
}

void MatMulQuantizedActs(const WeightMatrix& w, const float* x, size_t n_tokens, float* y,
                         ThreadPool& pool) {
  if (!UsesQuantizedActs(w.dtype)) return MatMul(w, x, n_tokens, y, pool);
  thread_local std::vector<uint8_t> scratch;
  const DType dt = ActsDType(w.dtype);
  const size_t row_bytes = ActsRowBytes(dt, w.cols);
  scratch.resize(n_tokens * row_bytes);
  // A plain pointer: inside the lambda, `scratch` would name each worker's own thread_local.
  uint8_t* buf = scratch.data();
  pool.ParallelFor(n_tokens, 8, [&](size_t b, size_t e) {
    QuantizeActivations(dt, x + b * w.cols, w.cols, e - b, w.cols, buf + b * row_bytes);
  });
  const QuantizedActs xq{dt, buf, n_tokens, w.cols, row_bytes};
  RowBlocksParallel(pool, w.rows, [&](size_t b, size_t e) {
    MatMulRowsQuantizedActs(w, xq, y, w.rows, b, e);
  });
}

}  // namespace moe
