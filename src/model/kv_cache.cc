#include "model/kv_cache.h"

#include "base/check.h"

namespace moe {

bool IsKvDType(DType t) { return t == DType::kF32 || t == DType::kBF16 || t == DType::kF16; }

KvLayer::KvLayer(DType t, size_t k_w, size_t v_w, size_t capacity) : dtype(t), k_width(k_w), v_width(v_w) {
  MOE_CHECK(IsKvDType(t));
  k.resize(capacity * RowBytes(t, k_w));
  v.resize(capacity * RowBytes(t, v_w));
}

namespace {
// Row pos of a [capacity, width] table of type t.
uint8_t* RowOf(DType t, std::vector<uint8_t>& table, size_t width, size_t pos) {
  return table.data() + pos * RowBytes(t, width);
}
WeightMatrix View(DType t, const std::vector<uint8_t>& table, size_t width, size_t p0, size_t n, size_t col0,
                  size_t cols) {
  const size_t stride = RowBytes(t, width);
  return WeightMatrix{t, table.data() + p0 * stride + RowBytes(t, col0), n, cols, stride};
}

// One entry rounded to the cache's type: bf16 with the kernels' vector rounding (the same
// bits as QuantizeRow's, 2.5x as fast in quantize-acts/bf16: it is on every token's path),
// the others with QuantizeRow.
void Store(DType t, const float* src, size_t width, uint8_t* dst) {
  if (t == DType::kBF16) {
    QuantizeActivations(t, src, width, 1, width, dst);
  } else {
    QuantizeRow(t, src, width, dst);
  }
}
}  // namespace

void KvLayer::StoreK(size_t pos, const float* src) { Store(dtype, src, k_width, RowOf(dtype, k, k_width, pos)); }
void KvLayer::StoreV(size_t pos, const float* src) { Store(dtype, src, v_width, RowOf(dtype, v, v_width, pos)); }
WeightMatrix KvLayer::RowsK(size_t p0, size_t n, size_t col0, size_t cols) const {
  return View(dtype, k, k_width, p0, n, col0, cols);
}
WeightMatrix KvLayer::RowsV(size_t p0, size_t n, size_t col0, size_t cols) const {
  return View(dtype, v, v_width, p0, n, col0, cols);
}

KvCache::KvCache(size_t capacity, const std::vector<std::pair<size_t, size_t>>& widths, DType dtype)
    : capacity_(capacity) {
  layers_.reserve(widths.size());
  for (const auto& [k, v] : widths) layers_.emplace_back(dtype, k, v, capacity);
}

}  // namespace moe
