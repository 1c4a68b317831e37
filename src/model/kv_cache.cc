#include "model/kv_cache.h"

#include "base/check.h"

namespace moe {

bool IsKvDType(DType t) { return t == DType::kF32 || t == DType::kBF16 || t == DType::kF16; }

KvLayer::KvLayer(DType t, size_t k_w, size_t v_w, size_t capacity) : dtype(t), k_width(k_w), v_width(v_w) {
  MOE_CHECK(IsKvDType(t));
  k.resize(capacity * RowBytes(t, k_w));
  v.resize(capacity * RowBytes(t, v_w));
}

void KvLayer::StoreK(size_t pos, const float* src) {
  QuantizeRow(dtype, src, k_width, k.data() + pos * RowBytes(dtype, k_width));
}
void KvLayer::StoreV(size_t pos, const float* src) {
  QuantizeRow(dtype, src, v_width, v.data() + pos * RowBytes(dtype, v_width));
}

WeightMatrix KvLayer::RowsK(size_t p0, size_t n, size_t col0, size_t cols) const {
  const size_t stride = RowBytes(dtype, k_width);
  return WeightMatrix{dtype, k.data() + p0 * stride + RowBytes(dtype, col0), n, cols, stride};
}
WeightMatrix KvLayer::RowsV(size_t p0, size_t n, size_t col0, size_t cols) const {
  const size_t stride = RowBytes(dtype, v_width);
  return WeightMatrix{dtype, v.data() + p0 * stride + RowBytes(dtype, col0), n, cols, stride};
}

KvCache::KvCache(size_t capacity, const std::vector<std::pair<size_t, size_t>>& widths, DType dtype)
    : capacity_(capacity) {
  layers_.reserve(widths.size());
  for (const auto& [k, v] : widths) layers_.emplace_back(dtype, k, v, capacity);
}

}  // namespace moe
