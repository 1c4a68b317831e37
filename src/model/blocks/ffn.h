// Feed-forward blocks: the dense SwiGLU FFN and the mixture-of-experts FFN (router, top-k
// selection, routed experts, shared experts).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "base/thread_pool.h"
#include "model/config.h"
#include "model/weights.h"

namespace moe {

// out = down(silu(gate(x)) ⊙ up(x)); x, out: [n, hidden].
// quantized_acts: the fast path (activations rounded to the weights' dot-product format).
void DenseFfn(const FfnWeights& w, const float* x, size_t n, float* out, ThreadPool& pool,
              bool quantized_acts = false);

struct RouterOptions {
  size_t top_k = 1;
  Scoring scoring = Scoring::kSoftmax;
  size_t n_group = 1;
  size_t topk_group = 1;
  bool norm_topk_prob = false;
  float scale = 1.0f;  // routed_scaling_factor
};

struct Routing {
  std::vector<int32_t> experts;  // [top_k]
  std::vector<float> weights;    // [top_k]
};

// Selects experts for one token from its router logits [n_expert].
// Scores are softmax or sigmoid of the logits. With a correction bias (DeepSeek-V3 noaux_tc)
// the *biased* scores choose groups and experts, while the unbiased scores weight them.
// Groups (n_group > 1) are ranked by the sum of their two best biased scores (with a bias) or
// their best score (without); only experts of the topk_group best groups compete. Weights are
// renormalized over the selected experts when norm_topk_prob, then scaled by `scale`.
Routing Route(const float* logits, size_t n_expert, const float* bias, const RouterOptions& o);

// out = Σ_k w_k · expert_k(x) + shared(x) for each token; x, out: [n, hidden].
// Tokens are bucketed by expert so each expert's weights are read once per batch.
void MoeFfn(const MoeWeights& w, const RouterOptions& o, const float* x, size_t n, size_t hidden,
            float* out, ThreadPool& pool, bool quantized_acts = false);

}  // namespace moe
