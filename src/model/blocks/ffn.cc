#include "model/blocks/ffn.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "kernels/cpu/ops.h"

namespace moe {

void DenseFfn(const FfnWeights& w, const float* x, size_t n, float* out, ThreadPool& pool) {
  const size_t ff = w.gate.rows;
  std::vector<float> g(n * ff), u(n * ff);
  MatMul(w.gate, x, n, g.data(), pool);
  MatMul(w.up, x, n, u.data(), pool);
  SiluMul(g.data(), u.data(), n * ff, g.data());
  MatMul(w.down, g.data(), n, out, pool);
}

namespace {
// Indices of the k largest values, ties to the lower index (deterministic).
std::vector<int32_t> TopK(const std::vector<float>& v, size_t k) {
  std::vector<int32_t> idx(v.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::partial_sort(idx.begin(), idx.begin() + k, idx.end(), [&](int32_t a, int32_t b) {
    return v[a] > v[b] || (v[a] == v[b] && a < b);
  });
  idx.resize(k);
  return idx;
}
}  // namespace

Routing Route(const float* logits, size_t n_expert, const float* bias, const RouterOptions& o) {
  std::vector<float> scores(logits, logits + n_expert);
  if (o.scoring == Scoring::kSoftmax) {
    SoftmaxInPlace(scores.data(), n_expert);
  } else {
    for (float& s : scores) s = 1.0f / (1.0f + std::exp(-s));
  }
  std::vector<float> choice = scores;
  if (bias)
    for (size_t e = 0; e < n_expert; ++e) choice[e] += bias[e];
  if (o.n_group > 1) {
    const size_t per = n_expert / o.n_group;
    std::vector<float> group_score(o.n_group);
    for (size_t g = 0; g < o.n_group; ++g) {
      std::vector<float> members(choice.begin() + g * per, choice.begin() + (g + 1) * per);
      std::sort(members.begin(), members.end(), std::greater<float>());
      group_score[g] = bias ? members[0] + (per > 1 ? members[1] : 0.0f) : members[0];
    }
    std::vector<int32_t> keep = TopK(group_score, o.topk_group);
    std::vector<bool> kept(o.n_group, false);
    for (int32_t g : keep) kept[g] = true;
    for (size_t e = 0; e < n_expert; ++e)
      if (!kept[e / per]) choice[e] = -INFINITY;
  }
  Routing r;
  r.experts = TopK(choice, o.top_k);
  r.weights.resize(o.top_k);
  double sum = 0;
  for (size_t k = 0; k < o.top_k; ++k) sum += r.weights[k] = scores[r.experts[k]];
  for (size_t k = 0; k < o.top_k; ++k) {
    float wk = r.weights[k];
    if (o.norm_topk_prob && sum > 0) wk = static_cast<float>(wk / sum);
    r.weights[k] = wk * o.scale;
  }
  return r;
}

void MoeFfn(const MoeWeights& w, const RouterOptions& o, const float* x, size_t n, size_t hidden,
            float* out, ThreadPool& pool) {
  const size_t E = w.router.rows;
  std::vector<float> logits(n * E);
  MatMul(w.router, x, n, logits.data(), pool);
  // Bucket (token, weight) pairs by expert.
  std::vector<std::vector<std::pair<size_t, float>>> bucket(E);
  for (size_t i = 0; i < n; ++i) {
    Routing r = Route(logits.data() + i * E, E, w.router_bias.empty() ? nullptr : w.router_bias.data(), o);
    for (size_t k = 0; k < r.experts.size(); ++k) bucket[r.experts[k]].push_back({i, r.weights[k]});
  }
  if (w.shared) {
    DenseFfn(*w.shared, x, n, out, pool);
  } else {
    std::fill(out, out + n * hidden, 0.0f);
  }
  const size_t ff = w.gate.first.rows;
  std::vector<float> xs, g, u, d;
  for (size_t e = 0; e < E; ++e) {
    const auto& b = bucket[e];
    if (b.empty()) continue;
    const size_t m = b.size();
    xs.resize(m * hidden);
    for (size_t j = 0; j < m; ++j) std::copy(x + b[j].first * hidden, x + (b[j].first + 1) * hidden, xs.data() + j * hidden);
    g.resize(m * ff);
    u.resize(m * ff);
    d.resize(m * hidden);
    MatMul(w.gate.Expert(e), xs.data(), m, g.data(), pool);
    MatMul(w.up.Expert(e), xs.data(), m, u.data(), pool);
    SiluMul(g.data(), u.data(), m * ff, g.data());
    MatMul(w.down.Expert(e), g.data(), m, d.data(), pool);
    for (size_t j = 0; j < m; ++j) AddScaled(b[j].second, d.data() + j * hidden, hidden, out + b[j].first * hidden);
  }
}

}  // namespace moe
