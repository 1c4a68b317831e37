// Per-sequence attention cache. GQA layers keep keys and values [pos, n_kv_heads·head_dim];
// MLA layers keep only the compressed latent [pos, kv_lora_rank] (after its norm) and the
// rotated shared key [pos, qk_rope_head_dim], as DeepSeek-V3's absorbed attention does.
// Entries are float32 (exact, the default) or rounded to bf16 / f16 when stored, which halves
// the bytes that decode reads per cached position (at depth those dominate: Qwen3-MoE's cache
// at 2k tokens is ~40% of the active weights' bytes in float32). Attention reads the cache
// as matrices (RowsK / RowsV), so the matmul kernels widen the 16-bit entries on the fly.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "kernels/cpu/matmul.h"
#include "tensor/dtype.h"

namespace moe {

struct KvLayer {
  DType dtype = DType::kF32;  // kF32, kBF16 or kF16
  size_t k_width = 0;         // values per position: GQA keys, or MLA latent
  size_t v_width = 0;         // GQA values, or MLA rope key
  std::vector<uint8_t> k;
  std::vector<uint8_t> v;

  KvLayer() = default;
  KvLayer(DType t, size_t k_w, size_t v_w, size_t capacity);

  // Rounds k_width (v_width) floats into position pos.
  void StoreK(size_t pos, const float* src);
  void StoreV(size_t pos, const float* src);
  // Positions [p0, p0 + n) as an n x cols matrix of columns [col0, col0 + cols).
  WeightMatrix RowsK(size_t p0, size_t n, size_t col0, size_t cols) const;
  WeightMatrix RowsV(size_t p0, size_t n, size_t col0, size_t cols) const;
};

class KvCache {
 public:
  KvCache(size_t capacity, const std::vector<std::pair<size_t, size_t>>& layer_widths,
          DType dtype = DType::kF32);
  size_t capacity() const { return capacity_; }
  size_t n_past() const { return n_past_; }
  void set_n_past(size_t n) { n_past_ = n; }
  void Clear() { n_past_ = 0; }
  KvLayer& layer(size_t i) { return layers_[i]; }

 private:
  size_t capacity_;
  size_t n_past_ = 0;
  std::vector<KvLayer> layers_;
};

// The cache entry types: f32, bf16, f16.
bool IsKvDType(DType t);

}  // namespace moe
