#include "model/blocks/ffn.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <memory>
#include <numeric>
#include <utility>

#include "kernels/cpu/ops.h"
#include "model/blocks/attention.h"

namespace moe {

void DenseFfn(const FfnWeights& w, const float* x, size_t n, float* out, ThreadPool& pool, bool quantized_acts) {
  const size_t ff = w.gate.rows;
  std::vector<float> g(n * ff), u(n * ff);
  Linear(w.gate, x, n, g.data(), pool, quantized_acts);
  Linear(w.up, x, n, u.data(), pool, quantized_acts);
  SiluMul(g.data(), u.data(), n * ff, g.data());
  Linear(w.down, g.data(), n, out, pool, quantized_acts);
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

namespace {

// One FFN (a routed expert or the shared experts) applied to a gathered set of tokens. Its
// buffers are carved from a per-thread workspace that only grows: fresh buffers per layer
// would either be zero-filled (a serial memset) or fault their pages in inside the parallel
// products (malloc hands large blocks back to the kernel on free).
struct ExpertJob {
  WeightMatrix gate, up, down;
  std::vector<size_t> tokens = {};   // rows of x this expert sees
  std::vector<float> weights = {};   // routing weight per token (1 for shared experts)
  float* xs = nullptr;               // [m, hidden] gathered rows of x (exact path only)
  float *h = nullptr, *u = nullptr, *d = nullptr;  // [m, ff] x 2, [m, hidden]
  uint8_t* xq = nullptr;             // [m] rows of x rounded for the fast path (or null)
  uint8_t* hq = nullptr;             // [m] rows of h rounded for the fast path (or null)
};

// Rows [r0, r1) of y = a·Wᵀ for the m rows of `a` (stride = W.cols), on the fast path when
// `q` holds a's rounded copy (else null).
void ItemRows(const WeightMatrix& w, const float* a, const uint8_t* q, size_t m, float* y, size_t y_stride,
              size_t r0, size_t r1) {
  if (q == nullptr) {
    MatMulRows(w, a, w.cols, m, y, y_stride, r0, r1);
  } else {
    const DType ad = ActsDType(w.dtype);
    QuantizedActs acts{ad, q, m, w.cols, ActsRowBytes(ad, w.cols)};
    MatMulRowsQuantizedActs(w, acts, y, y_stride, r0, r1);
  }
}

// Bytes of m rows of `cols` activations rounded for w's fast path (0: w takes floats).
size_t RoundedBytes(const WeightMatrix& w, bool quantized_acts, size_t m) {
  return quantized_acts && UsesQuantizedActs(w.dtype) ? m * ActsRowBytes(ActsDType(w.dtype), w.cols) : 0;
}

// A workspace that only grows, one per calling thread, 64-byte aligned: buffers carved from
// it at multiples of 64 bytes (Pad) start on cache lines, whatever the heap's layout.
template <class T>
T* Workspace(size_t count) {
  thread_local std::unique_ptr<uint8_t[]> raw;
  thread_local size_t capacity = 0;
  if (capacity < count) {
    raw.reset(new uint8_t[count * sizeof(T) + 64]);
    capacity = count;
  }
  return reinterpret_cast<T*>((reinterpret_cast<uintptr_t>(raw.get()) + 63) & ~uintptr_t{63});
}

template <class T>
size_t Pad(size_t count) {
  constexpr size_t k = 64 / sizeof(T);
  return (count + k - 1) / k * k;
}

// Rows per work item of a pass over `total_rows` expert rows: about 8 items per thread, so
// the shared counter still balances them, in whole 64-row blocks, at most 256. Decode reads
// each weight row once, and an item's first row tile starts cold (the kernels prefetch one
// tile ahead, only inside the item): 64-row items (4 tiles of 16 rows) left a quarter of
// the rows unprefetched. Q8_0 decode, fixed 64-row items vs this rule, alternating runs of
// the two binaries (-n 64 -r 3): qwen3moe-bench 48.5-49.1 -> 53.2-54.6 tok/s, deepseek-v3-
// bench 48.1-49.3 -> 50.5-54.6; BF16 +1-3%; pp512 unchanged within noise.
size_t RowsPerItem(size_t total_rows, size_t threads) {
  constexpr size_t kBlock = 64, kMax = 256;
  const size_t per_item = (total_rows + 8 * threads - 1) / (8 * threads);
  return std::clamp((per_item + kBlock - 1) / kBlock * kBlock, kBlock, kMax);
}

}  // namespace

void MoeFfn(const MoeWeights& w, const RouterOptions& o, const float* x, size_t n, size_t hidden,
            float* out, ThreadPool& pool, bool quantized_acts) {
  const size_t E = w.router.rows;
  std::vector<float> logits(n * E);
  MatMul(w.router, x, n, logits.data(), pool);
  // Bucket tokens by expert: each chosen expert's weights are then read once per batch.
  std::vector<int> slot(E, -1);
  std::vector<ExpertJob> jobs;
  // Per token, its (job, index in job) in routing order: the weighted sum below adds them in
  // that order, so a token's output does not depend on which other tokens share the batch.
  std::vector<std::vector<std::pair<size_t, size_t>>> contrib(n);
  for (size_t i = 0; i < n; ++i) {
    Routing r = Route(logits.data() + i * E, E, w.router_bias.empty() ? nullptr : w.router_bias.data(), o);
    for (size_t k = 0; k < r.experts.size(); ++k) {
      int e = r.experts[k];
      if (slot[e] < 0) {
        slot[e] = static_cast<int>(jobs.size());
        jobs.push_back({.gate = w.gate.Expert(e), .up = w.up.Expert(e), .down = w.down.Expert(e)});
      }
      contrib[i].push_back({static_cast<size_t>(slot[e]), jobs[slot[e]].tokens.size()});
      jobs[slot[e]].tokens.push_back(i);
      jobs[slot[e]].weights.push_back(r.weights[k]);
    }
  }
  if (w.shared) {
    ExpertJob s{.gate = w.shared->gate, .up = w.shared->up, .down = w.shared->down, .weights = std::vector<float>(n, 1.0f)};
    for (size_t i = 0; i < n; ++i) {
      contrib[i].push_back({jobs.size(), i});
      s.tokens.push_back(i);
    }
    jobs.push_back(std::move(s));
  }
  // Buffers, carved from this thread's workspace. Rounding is per row, so x is rounded once
  // per activation format (the shared experts' weights may have another dtype than the
  // routed ones') and each expert gathers its tokens' rounded rows: the same bytes as
  // rounding its gathered rows.
  struct Rounded {
    DType format;
    size_t row_bytes;  // of one token; gate.cols == hidden
    uint8_t* q;
  };
  std::vector<Rounded> rounded;  // x rounded, per activation format
  auto format = [&](DType ad) {
    return std::find_if(rounded.begin(), rounded.end(), [&](const Rounded& r) { return r.format == ad; });
  };
  size_t floats = 0, bytes = 0;
  for (const ExpertJob& j : jobs) {
    const size_t m = j.tokens.size();
    const bool rounds = RoundedBytes(j.gate, quantized_acts, 1) != 0;
    floats += 2 * Pad<float>(m * j.gate.rows) + Pad<float>(m * hidden) + (rounds ? 0 : Pad<float>(m * hidden));
    bytes += Pad<uint8_t>(RoundedBytes(j.gate, quantized_acts, m)) + Pad<uint8_t>(RoundedBytes(j.down, quantized_acts, m));
    if (rounds && format(ActsDType(j.gate.dtype)) == rounded.end()) {
      const DType ad = ActsDType(j.gate.dtype);
      rounded.push_back({ad, ActsRowBytes(ad, hidden), nullptr});
      bytes += Pad<uint8_t>(n * rounded.back().row_bytes);
    }
  }
  float* f = Workspace<float>(floats);
  uint8_t* b = Workspace<uint8_t>(bytes);
  auto take_floats = [&](size_t count) { return std::exchange(f, f + Pad<float>(count)); };
  auto take_bytes = [&](size_t count) { return std::exchange(b, b + Pad<uint8_t>(count)); };
  for (Rounded& r : rounded) {
    r.q = take_bytes(n * r.row_bytes);
    pool.ParallelFor(n, 16, [&](size_t t0, size_t t1) {
      QuantizeActivations(r.format, x + t0 * hidden, hidden, t1 - t0, hidden, r.q + t0 * r.row_bytes);
    });
  }
  for (ExpertJob& j : jobs) {
    const size_t m = j.tokens.size(), ff = j.gate.rows;
    j.h = take_floats(m * ff);
    j.u = take_floats(m * ff);
    j.d = take_floats(m * hidden);
    if (RoundedBytes(j.gate, quantized_acts, 1)) {
      j.xq = take_bytes(RoundedBytes(j.gate, true, m));
    } else {
      j.xs = take_floats(m * hidden);
    }
    if (RoundedBytes(j.down, quantized_acts, 1)) j.hq = take_bytes(RoundedBytes(j.down, true, m));
  }
  pool.ForEachItem(jobs.size(), [&](size_t e, int) {
    ExpertJob& j = jobs[e];
    const size_t m = j.tokens.size();
    if (j.xq) {
      const Rounded& r = *format(ActsDType(j.gate.dtype));
      for (size_t t = 0; t < m; ++t) std::copy_n(r.q + j.tokens[t] * r.row_bytes, r.row_bytes, j.xq + t * r.row_bytes);
    } else {
      for (size_t t = 0; t < m; ++t) std::copy_n(x + j.tokens[t] * hidden, hidden, j.xs + t * hidden);
    }
  });
  // Work items are (expert, block of rows): a layer with a few active experts still
  // spreads over every thread, and each item streams its rows of gate and up (then down)
  // once for all the expert's tokens. Gate and up share an item so SiLU fuses in.
  const size_t threads = static_cast<size_t>(pool.size());
  size_t ff_total = 0;
  for (const ExpertJob& j : jobs) ff_total += j.gate.rows;
  std::vector<std::pair<size_t, size_t>> items;  // (job, first row)
  size_t rows = RowsPerItem(ff_total, threads);
  for (size_t e = 0; e < jobs.size(); ++e)
    for (size_t r = 0; r < jobs[e].gate.rows; r += rows) items.push_back({e, r});
  // The down projection's inputs are rounded by the item that computed them, while they are
  // in its core's cache (items are whole 64-row blocks, so whole Q8_0 blocks). A pass of its
  // own read them back from the other core's cache or memory: in deepseek-v3-bench-bf16
  // pp512 profiles the bf16 rounding spent most of its samples on its loads, and fusing it
  // here took it from 6.4% to 5.5% of the expert GEMM's samples (one region less, too).
  auto apart = [](const ExpertJob& j) { return RoundsColumnsApart(ActsDType(j.down.dtype)); };
  pool.ForEachItem(items.size(), [&](size_t it, int) {
    ExpertJob& j = jobs[items[it].first];
    const size_t m = j.tokens.size(), ff = j.gate.rows, r0 = items[it].second, r1 = std::min(ff, r0 + rows);
    ItemRows(j.gate, j.xs, j.xq, m, j.h, ff, r0, r1);
    ItemRows(j.up, j.xs, j.xq, m, j.u, ff, r0, r1);
    for (size_t t = 0; t < m; ++t) SiluMul(j.h + t * ff + r0, j.u + t * ff + r0, r1 - r0, j.h + t * ff + r0);
    if (j.hq && apart(j)) QuantizeActivationColumns(ActsDType(j.down.dtype), j.h, ff, m, ff, r0, r1, j.hq);
  });
  if (std::any_of(jobs.begin(), jobs.end(), [&](const ExpertJob& j) { return j.hq && !apart(j); })) {
    pool.ForEachItem(jobs.size(), [&](size_t e, int) {
      const ExpertJob& j = jobs[e];
      if (j.hq && !apart(j))
        QuantizeActivations(ActsDType(j.down.dtype), j.h, j.gate.rows, j.tokens.size(), j.gate.rows, j.hq);
    });
  }
  items.clear();
  rows = RowsPerItem(jobs.size() * hidden, threads);
  for (size_t e = 0; e < jobs.size(); ++e)
    for (size_t r = 0; r < hidden; r += rows) items.push_back({e, r});
  pool.ForEachItem(items.size(), [&](size_t it, int) {
    ExpertJob& j = jobs[items[it].first];
    const size_t r0 = items[it].second, r1 = std::min(hidden, r0 + rows);
    ItemRows(j.down, j.h, j.hq, j.tokens.size(), j.d, hidden, r0, r1);
  });
  // Weighted sum per token, split by token so no two threads write the same row.
  pool.ParallelFor(n, 1, [&](size_t b, size_t end) {
    for (size_t i = b; i < end; ++i) {
      float* y = out + i * hidden;
      std::fill(y, y + hidden, 0.0f);
      for (auto [e, t] : contrib[i]) AddScaled(jobs[e].weights[t], jobs[e].d + t * hidden, hidden, y);
    }
  });
}

}  // namespace moe
