// Unit tests of the shared blocks against independent formulations: routing on hand-worked
// cases, YaRN frequencies from the DeepSeek-V3 formulas, MLA's absorbed attention against the
// expanded (naive) form, GQA against a direct loop.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "model/blocks/attention.h"
#include "model/blocks/ffn.h"

namespace moe {
namespace {

// Rows [first, first + count) of one sequence (positions first, first + 1, ...).
struct SequenceSlice {
  std::vector<size_t> pos;
  std::vector<KvLayer*> kv;
  BatchRows rows;
  SequenceSlice(size_t first, size_t count, KvLayer* layer) : pos(count), kv(count, layer), rows{} {
    for (size_t i = 0; i < count; ++i) pos[i] = first + i;
    rows = BatchRows{pos.data(), kv.data()};
  }
};

TEST(Route, SoftmaxTopKRenormalized) {
  float logits[4] = {1.0f, 3.0f, 2.0f, 0.0f};
  RouterOptions o{.top_k = 2, .scoring = Scoring::kSoftmax, .norm_topk_prob = true, .scale = 1.0f};
  Routing r = Route(logits, 4, nullptr, o);
  ASSERT_EQ(r.experts, (std::vector<int32_t>{1, 2}));
  // Renormalized softmax over {3, 2}: e^3 / (e^3 + e^2).
  EXPECT_NEAR(r.weights[0], std::exp(3.0) / (std::exp(3.0) + std::exp(2.0)), 1e-6);
  EXPECT_NEAR(r.weights[0] + r.weights[1], 1.0, 1e-6);
}

TEST(Route, SoftmaxWithoutNormKeepsProbabilities) {
  float logits[3] = {0.0f, 0.0f, 0.0f};
  RouterOptions o{.top_k = 1, .scoring = Scoring::kSoftmax, .norm_topk_prob = false, .scale = 2.0f};
  Routing r = Route(logits, 3, nullptr, o);
  EXPECT_EQ(r.experts[0], 0);  // ties go to the lower index
  EXPECT_NEAR(r.weights[0], 2.0 / 3.0, 1e-6);
}

TEST(Route, SigmoidBiasChoosesButDoesNotWeigh) {
  // 8 experts in 4 groups of 2; keep 2 groups, pick 2 experts.
  float logits[8] = {2.0f, 1.9f, -1.0f, -1.0f, 0.5f, 0.4f, 0.0f, 3.0f};
  float bias[8] = {0, 0, 5.0f, 5.0f, 0, 0, 0, -10.0f};
  RouterOptions o{.top_k = 2, .scoring = Scoring::kSigmoid, .n_group = 4, .topk_group = 2,
                  .norm_topk_prob = true, .scale = 2.5f};
  Routing r = Route(logits, 8, bias, o);
  auto sig = [](double x) { return 1 / (1 + std::exp(-x)); };
  // Biased group scores (sum of the top two): g1 = 2σ(-1)+10 wins, g0 = σ(2)+σ(1.9) next;
  // g3 is sunk by its bias although expert 7 has the highest raw logit.
  // Within groups 0 and 1, the biased best two are experts 2 and 3.
  ASSERT_EQ(r.experts, (std::vector<int32_t>{2, 3}));
  // Weights come from the unbiased sigmoid scores, renormalized, times 2.5.
  EXPECT_NEAR(r.weights[0], 2.5 * sig(-1.0) / (2 * sig(-1.0)), 1e-6);
}

TEST(Route, GroupsLimitTheCandidates) {
  float logits[8] = {5.0f, 4.0f, 0.0f, 0.0f, 4.5f, 0.0f, 0.0f, 0.0f};
  float bias[8] = {};
  RouterOptions o{.top_k = 2, .scoring = Scoring::kSigmoid, .n_group = 2, .topk_group = 1,
                  .norm_topk_prob = false, .scale = 1.0f};
  // Group 0 (experts 0-3) sums σ(5)+σ(4) > group 1's σ(4.5)+σ(0): expert 4 is excluded.
  Routing r = Route(logits, 8, bias, o);
  EXPECT_EQ(r.experts, (std::vector<int32_t>{0, 1}));
}

TEST(Route, DeepSeekV2SoftmaxGroupsRankByBestMember) {
  // V2's group_limited_greedy: softmax scores, groups ranked by their best member.
  float logits[6] = {3.0f, -5.0f, 2.0f, 2.0f, 0.0f, 2.9f};
  RouterOptions o{.top_k = 2, .scoring = Scoring::kSoftmax, .n_group = 3, .topk_group = 2,
                  .norm_topk_prob = false, .scale = 16.0f};
  // Group maxima: g0 = 3, g1 = 2, g2 = 2.9 → groups 0 and 2; experts 0 and 5
  // (group 1 would win on sums, 2 + 2 > 3 - 5, which V3 uses only with a bias).
  Routing r = Route(logits, 6, nullptr, o);
  ASSERT_EQ(r.experts, (std::vector<int32_t>{0, 5}));
  double z = 0;
  for (float l : logits) z += std::exp(l);
  EXPECT_NEAR(r.weights[0], 16.0 * std::exp(3.0) / z, 1e-5);
}

TEST(Rope, YarnMatchesDeepSeekFormulas) {
  RopeScaling s{.type = "yarn", .factor = 40, .original_max_position_embeddings = 4096, .beta_fast = 32, .beta_slow = 1};
  const size_t dim = 64;
  const double base = 10000;
  auto f = RopeFrequencies(dim, base, s, {});
  // low/high from find_correction_range: dim·ln(L/(β·2π)) / (2 ln base).
  auto corr = [&](double b) { return dim * std::log(4096 / (b * 2 * M_PI)) / (2 * std::log(base)); };
  double low = std::floor(corr(32)), high = std::ceil(corr(1));
  for (size_t i = 0; i < dim / 2; ++i) {
    double freq = std::pow(base, -2.0 * i / dim);
    double want = i < low ? freq : i >= high ? freq / 40 : 0;
    if (i < low || i >= high) EXPECT_NEAR(f[i], want, want * 1e-6) << i;
    else EXPECT_LT(f[i], freq);
  }
  EXPECT_NEAR(YarnMscale(40, 1.0), 1 + 0.1 * std::log(40.0), 1e-12);
}

struct Rand {
  std::mt19937 g{42};
  std::vector<float> Vec(size_t n, float scale = 1.0f) {
    std::normal_distribution<float> d(0, scale);
    std::vector<float> v(n);
    for (auto& x : v) x = d(g);
    return v;
  }
};

// x rounded to the cache entry type t and back (what KvLayer stores).
void RoundTo(DType t, float* x, size_t n) {
  std::vector<uint8_t> bytes(RowBytes(t, n));
  QuantizeRow(t, x, n, bytes.data());
  DequantizeRow(t, bytes.data(), n, x);
}

WeightMatrix F32(const std::vector<float>& v, size_t rows, size_t cols) {
  return {DType::kF32, v.data(), rows, cols, cols * 4};
}

void MatVec(const std::vector<float>& w, size_t rows, size_t cols, const float* x, float* y) {
  for (size_t r = 0; r < rows; ++r) {
    double acc = 0;
    for (size_t c = 0; c < cols; ++c) acc += static_cast<double>(w[r * cols + c]) * x[c];
    y[r] = static_cast<float>(acc);
  }
}

// The absorbed, chunked attention against the expanded form in double precision, for n rows:
// first n - decode_rows in one call (whole rows per thread), then decode_rows calls of one row
// (one row's chunks spread over the threads, in waves of 16 per thread). 150 rows span three
// chunks, the last partial; 2100 rows need two decode waves.
// The cache entry type is the third parameter; the reference rounds the cached latents and
// rope keys the same way, so the tolerance stays that of float32 arithmetic.
//
// The fourth parameter turns on the fast path (AttentionParams::quantized_acts): with a bf16
// cache, where vdpbf16ps is the fast path, the scores and the weighted sum are bf16 dot
// products (queries and softmax weights rounded to bf16, 2^-8 relative each, as llama.cpp
// rounds them against a bf16 cache). Those roundings move these outputs (|y| up to 3.1) by
// up to 6.3e-3, hence 2e-2 there; a wrong head, position or pair is off by O(1). The
// products themselves are checked against their references in tests/kernels; batch
// invariance stays bitwise.
class MlaTest : public ::testing::TestWithParam<std::tuple<size_t, size_t, DType, bool>> {};

TEST_P(MlaTest, AbsorbedEqualsExpandedAttention) {
  const auto [n, decode_rows, kv_type, fast] = GetParam();
  if (fast && !(kv_type == DType::kBF16 && UsesQuantizedActs(DType::kBF16)))
    GTEST_SKIP() << "no bf16 dot products on this CPU";
  ModelConfig c;
  c.hidden_size = 32;
  c.num_attention_heads = 3;
  c.q_lora_rank = 0;
  c.kv_lora_rank = 16;
  c.qk_nope_head_dim = 8;
  c.qk_rope_head_dim = 4;
  c.v_head_dim = 6;
  c.rms_norm_eps = 1e-6;
  const size_t E = 32, H = 3, C = 16, nope = 8, rope = 4, dv = 6, qk = nope + rope;
  Rand r;
  auto wq = r.Vec(H * qk * E, 0.2f), wkva = r.Vec((C + rope) * E, 0.2f), wkvb = r.Vec(H * (nope + dv) * C, 0.3f),
       wo = r.Vec(E * H * dv, 0.2f), kvnorm = r.Vec(C, 0.1f), x = r.Vec(n * E);
  for (auto& v : kvnorm) v += 1;
  MlaWeights w;
  w.q_b = F32(wq, H * qk, E);
  w.kv_a = F32(wkva, C + rope, E);
  w.kv_a_norm = kvnorm;
  w.kv_b = F32(wkvb, H * (nope + dv), C);
  w.o = F32(wo, E, H * dv);
  AttentionParams p;
  p.rope_freq = RopeFrequencies(rope, 10000, {}, {});
  p.scale = 0.37f;
  p.quantized_acts = fast;
  ThreadPool pool(2);
  std::vector<float> out(n * E);
  KvLayer kv(kv_type, C, rope, n);
  const size_t prefill = n - decode_rows;
  SequenceSlice head(0, prefill, &kv);
  MlaAttention(c, w, p, x.data(), prefill, head.rows, out.data(), pool);
  for (size_t i = prefill; i < n; ++i) {
    SequenceSlice one(i, 1, &kv);
    MlaAttention(c, w, p, x.data() + i * E, 1, one.rows, out.data() + i * E, pool);
  }
  if (decode_rows > 0) {  // the same rows in one batch: bitwise the same (batch invariance)
    KvLayer kv_all(kv_type, C, rope, n);
    SequenceSlice all(0, n, &kv_all);
    std::vector<float> out_all(n * E);
    MlaAttention(c, w, p, x.data(), n, all.rows, out_all.data(), pool);
    for (size_t k = prefill * E; k < n * E; ++k) ASSERT_EQ(out[k], out_all[k]) << "row " << k / E;
  }

  // Expanded form: full keys [nope from W_UK·latent | rope key] and values W_UV·latent.
  std::vector<std::vector<float>> K(n, std::vector<float>(H * qk)), V(n, std::vector<float>(H * dv)),
      Q(n, std::vector<float>(H * qk));
  for (size_t i = 0; i < n; ++i) {
    std::vector<float> a(C + rope), lat(C);
    MatVec(wkva, C + rope, E, x.data() + i * E, a.data());
    double ss = 0;
    for (size_t k = 0; k < C; ++k) ss += a[k] * a[k];
    for (size_t k = 0; k < C; ++k) lat[k] = a[k] / std::sqrt(ss / C + 1e-6) * kvnorm[k];
    ApplyRope(a.data() + C, 1, rope, rope, RopeStyle::kAdjacentPairs, p.rope_freq, i);
    RoundTo(kv_type, lat.data(), C);
    RoundTo(kv_type, a.data() + C, rope);
    MatVec(wq, H * qk, E, x.data() + i * E, Q[i].data());
    for (size_t h = 0; h < H; ++h) {
      ApplyRope(Q[i].data() + h * qk + nope, 1, rope, rope, RopeStyle::kAdjacentPairs, p.rope_freq, i);
      std::vector<float> kv_h(nope + dv);
      MatVec(std::vector<float>(wkvb.begin() + h * (nope + dv) * C, wkvb.begin() + (h + 1) * (nope + dv) * C),
             nope + dv, C, lat.data(), kv_h.data());
      std::copy(kv_h.begin(), kv_h.begin() + nope, K[i].begin() + h * qk);
      std::copy(a.begin() + C, a.end(), K[i].begin() + h * qk + nope);
      std::copy(kv_h.begin() + nope, kv_h.end(), V[i].begin() + h * dv);
    }
  }
  for (size_t i = 0; i < n; ++i) {
    std::vector<float> o(H * dv, 0.0f), y(E);
    for (size_t h = 0; h < H; ++h) {
      std::vector<double> s(i + 1);
      double mx = -1e30, sum = 0;
      for (size_t t = 0; t <= i; ++t) {
        double d = 0;
        for (size_t k = 0; k < qk; ++k) d += Q[i][h * qk + k] * K[t][h * qk + k];
        s[t] = d * p.scale;
        mx = std::max(mx, s[t]);
      }
      for (auto& v : s) sum += v = std::exp(v - mx);
      for (size_t t = 0; t <= i; ++t)
        for (size_t k = 0; k < dv; ++k) o[h * dv + k] += static_cast<float>(s[t] / sum) * V[t][h * dv + k];
    }
    MatVec(wo, E, H * dv, o.data(), y.data());
    for (size_t k = 0; k < E; ++k) EXPECT_NEAR(out[i * E + k], y[k], fast ? 2e-2 : 2e-4) << "token " << i << " dim " << k;
  }
}

std::vector<std::tuple<size_t, size_t, DType, bool>> MlaCases() {
  std::vector<std::tuple<size_t, size_t, DType, bool>> cases;
  for (DType t : {DType::kF32, DType::kBF16, DType::kF16})
    for (auto [n, decode] : {std::pair<size_t, size_t>{5, 0}, {150, 0}, {150, 3}, {129, 2}}) cases.emplace_back(n, decode, t, false);
  cases.emplace_back(2100, 1, DType::kF32, false);  // 33 chunks: decode runs them in two waves of 32 (2 threads)
  for (auto [n, decode] : {std::pair<size_t, size_t>{5, 0}, {150, 3}, {129, 2}, {2100, 1}})
    cases.emplace_back(n, decode, DType::kBF16, true);
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Rows, MlaTest, ::testing::ValuesIn(MlaCases()), [](const auto& info) {
  return fmt::format("n{}_decode{}_{}{}", std::get<0>(info.param), std::get<1>(info.param),
                     DTypeName(std::get<2>(info.param)), std::get<3>(info.param) ? "_fast" : "");
});

// The chunked GQA attention against a direct double-precision loop, in the layouts of
// MlaTest: n - decode_rows rows in one call, then one call per row; decode rows must equal the
// same rows computed in one batch bitwise. 150 rows span three 64-position chunks.
//
// The fourth parameter turns on the fast path: with a bf16 cache where vdpbf16ps is fast, the
// scores are bf16 dot products (GroupScores) of queries rounded to bf16, which the reference
// rounds the same way, so the tolerance stays that of float32 sums. Those cases take 6 query
// heads per KV head (a set of 4 and a padded one) and 16 values per head.
class GqaTest : public ::testing::TestWithParam<std::tuple<size_t, size_t, DType, bool>> {};

TEST_P(GqaTest, MatchesDirectLoop) {
  const auto [n, decode_rows, kv_type, fast] = GetParam();
  if (fast && !(kv_type == DType::kBF16 && UsesQuantizedActs(DType::kBF16)))
    GTEST_SKIP() << "no bf16 dot products on this CPU";
  const size_t E = 16, H = fast ? 12 : 4, KV = 2, D = fast ? 16 : 4;
  ModelConfig c;
  c.hidden_size = E;
  c.num_attention_heads = H;
  c.num_key_value_heads = KV;
  c.head_dim = D;
  c.rope_dim = D;
  c.rms_norm_eps = 1e-6;
  Rand r;
  auto wq = r.Vec(H * D * E, 0.3f), wk = r.Vec(KV * D * E, 0.3f), wv = r.Vec(KV * D * E, 0.3f),
       wo = r.Vec(E * H * D, 0.3f), x = r.Vec(n * E);
  GqaWeights w{F32(wq, H * D, E), F32(wk, KV * D, E), F32(wv, KV * D, E), F32(wo, E, H * D), {}, {}};
  AttentionParams p;
  p.rope_freq = RopeFrequencies(D, 10000, {}, {});
  p.rope_style = RopeStyle::kHalves;
  p.scale = 0.5f;
  p.quantized_acts = fast;
  ThreadPool pool(2);
  std::vector<float> out(n * E);
  KvLayer kv(kv_type, KV * D, KV * D, n);
  const size_t prefill = n - decode_rows;
  SequenceSlice head(0, prefill, &kv);
  GqaAttention(c, w, p, x.data(), prefill, head.rows, out.data(), pool);
  for (size_t i = prefill; i < n; ++i) {
    SequenceSlice one(i, 1, &kv);
    GqaAttention(c, w, p, x.data() + i * E, 1, one.rows, out.data() + i * E, pool);
  }
  if (decode_rows > 0) {  // the same rows in one batch: bitwise the same (batch invariance)
    KvLayer kv_all(kv_type, KV * D, KV * D, n);
    SequenceSlice all(0, n, &kv_all);
    std::vector<float> out_all(n * E);
    GqaAttention(c, w, p, x.data(), n, all.rows, out_all.data(), pool);
    for (size_t k = prefill * E; k < n * E; ++k) ASSERT_EQ(out[k], out_all[k]) << "row " << k / E;
  }

  std::vector<std::vector<float>> Q(n, std::vector<float>(H * D)), K(n, std::vector<float>(KV * D)),
      V(n, std::vector<float>(KV * D));
  for (size_t i = 0; i < n; ++i) {
    MatVec(wq, H * D, E, x.data() + i * E, Q[i].data());
    MatVec(wk, KV * D, E, x.data() + i * E, K[i].data());
    MatVec(wv, KV * D, E, x.data() + i * E, V[i].data());
    // NeoX rotation of halves, written out: (x_j, x_{j+D/2}) by θ_j = i·base^(-2j/D).
    for (auto* vec : {&Q[i], &K[i]}) {
      for (size_t h = 0; h < vec->size() / D; ++h) {
        for (size_t j = 0; j < D / 2; ++j) {
          double th = i * std::pow(10000.0, -2.0 * j / D);
          float a = (*vec)[h * D + j], b = (*vec)[h * D + j + D / 2];
          (*vec)[h * D + j] = a * std::cos(th) - b * std::sin(th);
          (*vec)[h * D + j + D / 2] = a * std::sin(th) + b * std::cos(th);
        }
      }
    }
    RoundTo(kv_type, K[i].data(), KV * D);  // as cached
    RoundTo(kv_type, V[i].data(), KV * D);
    if (fast) RoundTo(DType::kBF16, Q[i].data(), H * D);  // as the fast path rounds queries
  }
  for (size_t i = 0; i < n; ++i) {
    std::vector<float> o(H * D, 0.0f), y(E);
    for (size_t h = 0; h < H; ++h) {
      size_t g = h / (H / KV);
      std::vector<double> s(i + 1);
      double mx = -1e30, sum = 0;
      for (size_t t = 0; t <= i; ++t) {
        double d = 0;
        for (size_t k = 0; k < D; ++k) d += Q[i][h * D + k] * K[t][g * D + k];
        mx = std::max(mx, s[t] = d * p.scale);
      }
      for (auto& v : s) sum += v = std::exp(v - mx);
      for (size_t t = 0; t <= i; ++t)
        for (size_t k = 0; k < D; ++k) o[h * D + k] += static_cast<float>(s[t] / sum) * V[t][g * D + k];
    }
    MatVec(wo, E, H * D, o.data(), y.data());
    for (size_t k = 0; k < E; ++k)
      EXPECT_NEAR(out[i * E + k], y[k], 1e-4) << "token " << i << " dim " << k;
  }
}

std::vector<std::tuple<size_t, size_t, DType, bool>> GqaCases() {
  std::vector<std::tuple<size_t, size_t, DType, bool>> cases;
  for (DType t : {DType::kF32, DType::kBF16, DType::kF16})
    for (auto [n, decode] : {std::pair<size_t, size_t>{4, 0}, {150, 0}, {150, 3}, {129, 2}})
      cases.emplace_back(n, decode, t, false);
  for (auto [n, decode] : {std::pair<size_t, size_t>{5, 0}, {150, 3}, {131, 2}})
    cases.emplace_back(n, decode, DType::kBF16, true);
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Rows, GqaTest, ::testing::ValuesIn(GqaCases()), [](const auto& info) {
  return fmt::format("n{}_decode{}_{}{}", std::get<0>(info.param), std::get<1>(info.param),
                     DTypeName(std::get<2>(info.param)), std::get<3>(info.param) ? "_fast" : "");
});

// The bucketed, work-item MoE against a per-token loop over the routed experts + shared.
// Sizes (hidden E, expert rows F, shared rows S) are not multiples of the 64-row blocks; the
// larger case makes RowsPerItem pick 192-row items for gate/up and 256-row items for down,
// each expert ending in a partial item.
class MoeFfnTest : public ::testing::TestWithParam<std::tuple<size_t, size_t, size_t>> {};

TEST_P(MoeFfnTest, MatchesPerTokenLoop) {
  const auto [E, F, S] = GetParam();
  const size_t X = 8, n = 7;
  Rand r;
  auto router = r.Vec(X * E), bias = r.Vec(X, 0.1f), gate = r.Vec(X * F * E, 0.2f), up = r.Vec(X * F * E, 0.2f),
       down = r.Vec(X * E * F, 0.2f), sg = r.Vec(S * E, 0.2f), su = r.Vec(S * E, 0.2f), sd = r.Vec(E * S, 0.2f),
       x = r.Vec(n * E);
  MoeWeights w;
  w.router = F32(router, X, E);
  w.router_bias = bias;
  auto stack = [&](const std::vector<float>& v, size_t rows, size_t cols) {
    return ExpertStack{F32(v, rows, cols), X, rows * cols * 4};
  };
  w.gate = stack(gate, F, E);
  w.up = stack(up, F, E);
  w.down = stack(down, E, F);
  w.shared = FfnWeights{F32(sg, S, E), F32(su, S, E), F32(sd, E, S)};
  RouterOptions o{.top_k = 3, .scoring = Scoring::kSigmoid, .n_group = 4, .topk_group = 2,
                  .norm_topk_prob = true, .scale = 2.5f};
  ThreadPool pool(2);
  std::vector<float> out(n * E);
  MoeFfn(w, o, x.data(), n, E, out.data(), pool);
  auto ffn = [&](const float* g, const float* u, const float* d, size_t ff, const float* xi, std::vector<double>& acc, double wt) {
    std::vector<float> gv(ff), uv(ff), h(ff), y(E);
    MatVec(std::vector<float>(g, g + ff * E), ff, E, xi, gv.data());
    MatVec(std::vector<float>(u, u + ff * E), ff, E, xi, uv.data());
    for (size_t k = 0; k < ff; ++k) h[k] = gv[k] / (1 + std::exp(-gv[k])) * uv[k];
    MatVec(std::vector<float>(d, d + E * ff), E, ff, h.data(), y.data());
    for (size_t k = 0; k < E; ++k) acc[k] += wt * y[k];
  };
  for (size_t i = 0; i < n; ++i) {
    std::vector<float> logits(X);
    MatVec(router, X, E, x.data() + i * E, logits.data());
    Routing rt = Route(logits.data(), X, bias.data(), o);
    std::vector<double> acc(E, 0.0);
    for (size_t k = 0; k < rt.experts.size(); ++k) {
      size_t e = rt.experts[k];
      ffn(gate.data() + e * F * E, up.data() + e * F * E, down.data() + e * E * F, F, x.data() + i * E, acc, rt.weights[k]);
    }
    ffn(sg.data(), su.data(), sd.data(), S, x.data() + i * E, acc, 1.0);
    for (size_t k = 0; k < E; ++k) EXPECT_NEAR(out[i * E + k], acc[k], 1e-4) << "token " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Sizes, MoeFfnTest,
                         ::testing::Values(std::tuple<size_t, size_t, size_t>{48, 80, 40},
                                           std::tuple<size_t, size_t, size_t>{520, 300, 136}),
                         [](const auto& info) {
                           return fmt::format("E{}_F{}_S{}", std::get<0>(info.param), std::get<1>(info.param),
                                              std::get<2>(info.param));
                         });

}  // namespace
}  // namespace moe
