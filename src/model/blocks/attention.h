// Attention blocks over a batch of rows that may belong to different sequences: grouped-query
// attention (Llama, Qwen3) and multi-head latent attention (DeepSeek-V2/V3, Kimi K2).
// Projections run over all rows at once; each row is written into its own sequence's cache
// at its position, then attends causally over that cache. A row's result never depends on
// the other rows of the batch (continuous batching relies on this).
#pragma once

#include <cstddef>
#include <vector>

#include "base/thread_pool.h"
#include "kernels/cpu/ops.h"
#include "model/config.h"
#include "model/kv_cache.h"
#include "model/weights.h"

namespace moe {

struct AttentionParams {
  std::vector<float> rope_freq;  // per rotated pair, YaRN / freq factors folded in
  RopeStyle rope_style = RopeStyle::kAdjacentPairs;
  float scale = 1.0f;            // softmax scale applied to q·k
  bool quantized_acts = false;   // projections on the fast path (activations rounded, ggml-style)
};

// y = x·Wᵀ over the pool: exact float32 activations, or rounded to the weights' dot-product
// format where that is faster (MatMulQuantizedActs) when `quantized_acts`.
inline void Linear(const WeightMatrix& w, const float* x, size_t n, float* y, ThreadPool& pool,
                   bool quantized_acts) {
  if (quantized_acts) MatMulQuantizedActs(w, x, n, y, pool);
  else MatMul(w, x, n, y, pool);
}

// Rotary frequencies θ_i = base^(-2i/d) for d rotated dims, with YaRN's interpolation ramp
// (DeepSeek-V3 model.py precompute_freqs_cis) and optional per-pair divisors (rope_freqs).
std::vector<float> RopeFrequencies(size_t dims, double base, const RopeScaling& scaling,
                                   const std::vector<float>& freq_factors);
// YaRN's attention magnitude correction: 0.1·m·ln(factor) + 1 (1 without YaRN).
double YarnMscale(double factor, double m);

// Row i of a batch sits at position pos[i] of the sequence whose cache layer is kv[i]; rows of
// one sequence come in position order, so a row sees the rows before it.
struct BatchRows {
  const size_t* pos;
  KvLayer* const* kv;
};

// x: [n, hidden] (normalized input); out: [n, hidden].
void GqaAttention(const ModelConfig& cfg, const GqaWeights& w, const AttentionParams& p,
                  const float* x, size_t n, const BatchRows& rows, float* out, ThreadPool& pool);

void MlaAttention(const ModelConfig& cfg, const MlaWeights& w, const AttentionParams& p,
                  const float* x, size_t n, const BatchRows& rows, float* out, ThreadPool& pool);

}  // namespace moe
