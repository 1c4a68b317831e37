// Sampler behaviour: greedy, each filter, penalties, seeded reproducibility, and that the
// draw follows the softmax distribution.
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "engine/sampler.h"

namespace moe {
namespace {

std::vector<float> Logits() { return {1.0f, 3.0f, 2.0f, 0.5f, 2.9f}; }

TEST(Sampler, GreedyIsArgmax) {
  Sampler s({.temperature = 0});
  auto l = Logits();
  EXPECT_EQ(s.Sample(l, {}), 1);
}

TEST(Sampler, TopK1IsArgmaxAtAnyTemperature) {
  for (uint64_t seed = 0; seed < 20; ++seed) {
    Sampler s({.temperature = 5.0f, .top_k = 1, .seed = seed});
    auto l = Logits();
    EXPECT_EQ(s.Sample(l, {}), 1);
  }
}

TEST(Sampler, TopPKeepsTheSmallestNucleus) {
  // p(1) and p(4) are nearly equal and together exceed 0.5 at T=1; top_p=0.3 keeps only 1.
  for (uint64_t seed = 0; seed < 20; ++seed) {
    Sampler s({.temperature = 1.0f, .top_p = 0.3f, .seed = seed});
    auto l = Logits();
    EXPECT_EQ(s.Sample(l, {}), 1);
  }
  std::map<int, int> seen;
  for (uint64_t seed = 0; seed < 200; ++seed) {
    Sampler s({.temperature = 1.0f, .top_p = 0.6f, .seed = seed});
    auto l = Logits();
    seen[s.Sample(l, {})]++;
  }
  EXPECT_EQ(seen.size(), 2u);  // tokens 1 and 4 only
  EXPECT_TRUE(seen.count(1) && seen.count(4));
}

TEST(Sampler, MinPDropsUnlikelyTokens) {
  std::map<int, int> seen;
  for (uint64_t seed = 0; seed < 300; ++seed) {
    Sampler s({.temperature = 1.0f, .min_p = 0.5f, .seed = seed});
    auto l = Logits();
    seen[s.Sample(l, {})]++;
  }
  // Kept: p_i >= 0.5·p_max ⇔ l_i >= 3 - ln 2 ≈ 2.31: tokens 1 and 4.
  for (auto& [tok, n] : seen) EXPECT_TRUE(tok == 1 || tok == 4) << tok;
}

TEST(Sampler, SameSeedSameTokens) {
  std::vector<int32_t> a, b;
  Sampler s1({.temperature = 1.0f, .seed = 7}), s2({.temperature = 1.0f, .seed = 7});
  for (int i = 0; i < 50; ++i) {
    auto l1 = Logits(), l2 = Logits();
    a.push_back(s1.Sample(l1, {}));
    b.push_back(s2.Sample(l2, {}));
  }
  EXPECT_EQ(a, b);
}

TEST(Sampler, FollowsTheSoftmaxDistribution) {
  Sampler s({.temperature = 1.0f, .seed = 3});
  std::vector<int> count(5);
  const int n = 20000;
  for (int i = 0; i < n; ++i) {
    auto l = Logits();
    count[s.Sample(l, {})]++;
  }
  double z = 0;
  for (float v : Logits()) z += std::exp(v);
  for (int t = 0; t < 5; ++t) {
    double p = std::exp(Logits()[t]) / z;
    // 5 standard deviations of a binomial count.
    EXPECT_NEAR(count[t], n * p, 5 * std::sqrt(n * p * (1 - p))) << "token " << t;
  }
}

TEST(Sampler, RepetitionPenaltyChangesTheChoice) {
  Sampler s({.temperature = 0, .repetition_penalty = 1.5f});
  auto l = Logits();
  std::vector<int32_t> history = {1};
  // 3 / 1.5 = 2 < 2.9: token 4 wins.
  EXPECT_EQ(s.Sample(l, history), 4);
  EXPECT_FLOAT_EQ(l[1], 2.0f);
}

TEST(Sampler, PresenceAndFrequencyPenalties) {
  SamplingParams p{.presence_penalty = 0.5f, .frequency_penalty = 0.25f};
  auto l = Logits();
  std::vector<int32_t> history = {2, 2, 0};
  ApplyPenalties(p, l, history);
  EXPECT_FLOAT_EQ(l[2], 2.0f - 0.5f - 0.5f);
  EXPECT_FLOAT_EQ(l[0], 1.0f - 0.5f - 0.25f);
  EXPECT_FLOAT_EQ(l[1], 3.0f);
}

TEST(Sampler, ValidationRejectsNonsense) {
  EXPECT_FALSE(SamplingParams{.temperature = -1}.Validate().ok());
  EXPECT_FALSE(SamplingParams{.top_p = 0}.Validate().ok());
  EXPECT_FALSE(SamplingParams{.min_p = 2}.Validate().ok());
  EXPECT_FALSE(SamplingParams{.temperature = NAN}.Validate().ok());
  EXPECT_TRUE(SamplingParams{}.Validate().ok());
}

}  // namespace
}  // namespace moe
