// Per-sequence attention cache. GQA layers keep keys and values [pos, n_kv_heads·head_dim];
// MLA layers keep only the compressed latent [pos, kv_lora_rank] (after its norm) and the
// rotated shared key [pos, qk_rope_head_dim], as DeepSeek-V3's absorbed attention does.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace moe {

struct KvLayer {
  size_t k_width = 0;  // floats per position: GQA keys, or MLA latent
  size_t v_width = 0;  // GQA values, or MLA rope key
  std::vector<float> k;
  std::vector<float> v;
  float* K(size_t pos) { return k.data() + pos * k_width; }
  float* V(size_t pos) { return v.data() + pos * v_width; }
  const float* K(size_t pos) const { return k.data() + pos * k_width; }
  const float* V(size_t pos) const { return v.data() + pos * v_width; }
};

class KvCache {
 public:
  KvCache(size_t capacity, const std::vector<std::pair<size_t, size_t>>& layer_widths);
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

}  // namespace moe
