#include "model/kv_cache.h"

namespace moe {

KvCache::KvCache(size_t capacity, const std::vector<std::pair<size_t, size_t>>& widths)
    : capacity_(capacity) {
  layers_.resize(widths.size());
  for (size_t i = 0; i < widths.size(); ++i) {
    layers_[i].k_width = widths[i].first;
    layers_[i].v_width = widths[i].second;
    layers_[i].k.resize(capacity * widths[i].first);
    layers_[i].v.resize(capacity * widths[i].second);
  }
}

}  // namespace moe
