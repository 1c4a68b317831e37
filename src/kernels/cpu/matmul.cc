// Dispatch of the exact path of matmul.h: compiles matmul-inl.h for every Highway target,
// exports it once and dispatches once per MatMulRows call; MatMul splits rows over threads.
// Also dispatches the fast path's activation quantizers (same -inl.h).
#include "kernels/cpu/matmul.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/cpu/matmul.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "hwy/highway.h"
#include "kernels/cpu/matmul-inl.h"

#if HWY_ONCE
#include <algorithm>
#include <vector>

#include "base/check.h"
#include "kernels/cpu/weight_tiles.h"

namespace moe {

HWY_EXPORT(MatMulRowsExact);
HWY_EXPORT(MatMulTransposedExact);
HWY_EXPORT(QuantizeRowsQ8_0);
HWY_EXPORT(RoundRowsBf16);
HWY_EXPORT(MatMulTransposedF8Folded);

namespace detail {
void QuantizeRowsQ8_0(const float* x, size_t x_stride, size_t n_tokens, size_t cols, BlockQ8_0* out,
                      size_t out_stride) {
  HWY_DYNAMIC_DISPATCH(QuantizeRowsQ8_0)(x, x_stride, n_tokens, cols, out, out_stride);
}
void RoundRowsBf16(const float* x, size_t x_stride, size_t n_tokens, size_t cols, uint16_t* out,
                   size_t out_stride) {
  HWY_DYNAMIC_DISPATCH(RoundRowsBf16)(x, x_stride, n_tokens, cols, out, out_stride);
}
void MatMulTransposedF8Folded(const WeightMatrix& w, const float* x, size_t x_stride, size_t n_tokens, float* y,
                              size_t y_stride) {
  HWY_DYNAMIC_DISPATCH(MatMulTransposedF8Folded)(w, x, x_stride, n_tokens, y, y_stride);
}
}  // namespace detail

void MatMulRows(const WeightMatrix& w, const float* x, size_t x_stride, size_t n_tokens,
                float* y, size_t y_stride, size_t row_begin, size_t row_end) {
  MOE_DCHECK(row_begin <= row_end && row_end <= w.rows);
  MOE_DCHECK(w.cols % BlockSize(w.dtype) == 0);
  MOE_DCHECK(w.dtype != DType::kF8E4M3 || w.scales != nullptr);
  if (row_begin >= row_end || n_tokens == 0) return;
  if (w.layout != WeightLayout::kRows) {
    // Tiles (exact products asked of a matrix tiled for the fast path): untile 64 rows at a
    // time into this thread's buffer.
    thread_local std::vector<uint8_t> buf;
    for (size_t r0 = row_begin; r0 < row_end; r0 += 64) {
      const size_t r1 = std::min(row_end, r0 + 64);
      HWY_DYNAMIC_DISPATCH(MatMulRowsExact)(RowMajorRows(w, r0, r1, buf), x, x_stride, n_tokens, y + r0,
                                            y_stride, 0, r1 - r0);
    }
    return;
  }
  HWY_DYNAMIC_DISPATCH(MatMulRowsExact)(w, x, x_stride, n_tokens, y, y_stride, row_begin,
                                        row_end);
}

void MatMulTransposed(const WeightMatrix& w, const float* x, size_t x_stride, size_t n_tokens,
                      float* y, size_t y_stride) {
  MOE_DCHECK(w.dtype != DType::kF8E4M3 || w.scales != nullptr);
  if (n_tokens == 0 || w.cols == 0) return;
  if (w.layout != WeightLayout::kRows) {
    std::vector<uint8_t> buf;
    HWY_DYNAMIC_DISPATCH(MatMulTransposedExact)(RowMajorRows(w, 0, w.rows, buf), x, x_stride, n_tokens, y, y_stride);
    return;
  }
  HWY_DYNAMIC_DISPATCH(MatMulTransposedExact)(w, x, x_stride, n_tokens, y, y_stride);
}

void RowBlocksParallel(ThreadPool& pool, size_t rows,
                       const std::function<void(size_t, size_t)>& fn) {
  // Blocks are whole 16-row tiles (the Q8_0 kernels' interleaving), one contiguous range per
  // thread so each thread streams its own rows; tiny matrices stay on the calling thread.
  constexpr size_t kAlign = 16;
  constexpr size_t kMinRowsPerThread = 16;
  const size_t units = (rows + kAlign - 1) / kAlign;
  const size_t max_threads = std::max<size_t>(1, rows / kMinRowsPerThread);
  const size_t used = std::min<size_t>({static_cast<size_t>(pool.size()), max_threads, units});
  if (used <= 1) {
    fn(0, rows);
    return;
  }
  pool.Run([&](int t, int) {
    const size_t i = static_cast<size_t>(t);
    if (i >= used) return;
    const size_t begin = std::min(rows, units * i / used * kAlign);
    const size_t end = std::min(rows, units * (i + 1) / used * kAlign);
    if (begin < end) fn(begin, end);
  });
}

void MatMul(const WeightMatrix& w, const float* x, size_t n_tokens, float* y, ThreadPool& pool) {
  RowBlocksParallel(pool, w.rows, [&](size_t b, size_t e) {
    MatMulRows(w, x, w.cols, n_tokens, y, w.rows, b, e);
  });
}

}  // namespace moe
#endif  // HWY_ONCE
