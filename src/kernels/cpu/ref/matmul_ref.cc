// Scalar references for matmul.h: the exact path (dequantize a row, then a float dot product)
// and the fast path over quantized activations (integer block sums, as ggml).
#include <vector>

#include "kernels/cpu/matmul.h"
#include "kernels/cpu/weight_tiles.h"

namespace moe {

void DequantizeWeightRow(const WeightMatrix& w, size_t r, float* out) {
  if (w.layout != WeightLayout::kRows) {
    std::vector<uint8_t> row;
    DequantizeWeightRow(RowMajorRows(w, r, r + 1, row), 0, out);
  } else if (w.dtype == DType::kF8E4M3) {
    DequantizeRowF8(static_cast<const uint8_t*>(w.Row(r)), w.RowScales(r), w.cols, out);
  } else {
    DequantizeRow(w.dtype, w.Row(r), w.cols, out);
  }
}

}  // namespace moe

namespace moe::ref {

void MatMulRows(const WeightMatrix& w, const float* x, size_t x_stride, size_t n_tokens,
                float* y, size_t y_stride, size_t row_begin, size_t row_end) {
  std::vector<float> row(w.cols);  // DequantizeWeightRow reads tiled rows too
  for (size_t r = row_begin; r < row_end; ++r) {
    DequantizeWeightRow(w, r, row.data());
    for (size_t t = 0; t < n_tokens; ++t) {
      const float* xt = x + t * x_stride;
      float acc = 0;
      for (size_t c = 0; c < w.cols; ++c) acc += row[c] * xt[c];
      y[t * y_stride + r] = acc;
    }
  }
}

}  // namespace moe::ref

namespace moe::ref {

void MatMulTransposed(const WeightMatrix& w, const float* x, size_t x_stride, size_t n_tokens,
                      float* y, size_t y_stride) {
  std::vector<float> row(w.cols);
  for (size_t t = 0; t < n_tokens; ++t)
    for (size_t c = 0; c < w.cols; ++c) y[t * y_stride + c] = 0;
  for (size_t r = 0; r < w.rows; ++r) {
    DequantizeWeightRow(w, r, row.data());
    for (size_t t = 0; t < n_tokens; ++t)
      for (size_t c = 0; c < w.cols; ++c) y[t * y_stride + c] += x[t * x_stride + r] * row[c];
  }
}

void MatMulRowsQuantizedActs(const WeightMatrix& w, const QuantizedActs& xq, float* y,
                             size_t y_stride, size_t row_begin, size_t row_end) {
  if (w.layout != WeightLayout::kRows) {
    std::vector<uint8_t> rows;
    return ref::MatMulRowsQuantizedActs(RowMajorRows(w, 0, w.rows, rows), xq, y, y_stride, row_begin, row_end);
  }
  std::vector<float> widened;  // FP8: the activations widened (bf16, or fp16 times its scale)
  if (w.dtype == DType::kF8E4M3) {
    widened.resize(xq.n_tokens * w.cols);
    for (size_t t = 0; t < xq.n_tokens; ++t) DequantizeActs(xq, t, widened.data() + t * w.cols);
  }
  for (size_t r = row_begin; r < row_end; ++r) {
    for (size_t t = 0; t < xq.n_tokens; ++t) {
      float acc = 0;
      if (w.dtype == DType::kQ8_0) {
        const auto* wb = static_cast<const BlockQ8_0*>(w.Row(r));
        const auto* xb = static_cast<const BlockQ8_0*>(xq.Row(t));
        for (size_t b = 0; b < w.cols / kQ8_0Block; ++b) {
          int32_t sumi = 0;
          for (size_t i = 0; i < kQ8_0Block; ++i) sumi += int32_t{wb[b].qs[i]} * xb[b].qs[i];
          acc += static_cast<float>(sumi) * (F16ToF32(wb[b].d) * F16ToF32(xb[b].d));
        }
      } else if (w.dtype == DType::kF8E4M3) {
        // The dequantized weight float32(v · s) times the widened activation, summed in float.
        const auto* wr = static_cast<const uint8_t*>(w.Row(r));
        const float* s = w.RowScales(r);
        const float* xr = widened.data() + t * w.cols;
        for (size_t c = 0; c < w.cols; ++c) acc += F8E4M3ToF32(wr[c]) * s[c / kF8Block] * xr[c];
      } else {
        const auto* wr = static_cast<const uint16_t*>(w.Row(r));
        const auto* xr = static_cast<const uint16_t*>(xq.Row(t));
        for (size_t c = 0; c < w.cols; ++c) acc += Bf16ToF32(wr[c]) * Bf16ToF32(xr[c]);
      }
      y[t * y_stride + r] = acc;
    }
  }
}

}  // namespace moe::ref
