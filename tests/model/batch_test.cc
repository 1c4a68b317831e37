// Continuous batching rests on one property: a sequence's logits do not depend on which other
// sequences share its forward step, how its prompt is chunked, or when it joined. Checked
// bitwise against running each sequence alone, on the kit's models of every family and
// weight type, on both the exact and the fast (rounded-activation) path.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "model/model.h"

namespace moe {
namespace {

const std::string kKit = std::string(MOE_TEST_DATA) + "/conformance/";

std::vector<int32_t> RandomTokens(size_t n, size_t vocab, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<int32_t> t(n);
  for (auto& v : t) v = static_cast<int32_t>(rng() % vocab);
  return t;
}

// Logits of every position of `tokens`, prefilled in one pass (alone in its step).
std::vector<float> Solo(const Model& m, const std::vector<int32_t>& tokens, ThreadPool& pool) {
  auto cache = m.NewCache(tokens.size());
  std::vector<float> logits;
  EXPECT_TRUE(m.Forward(tokens, *cache, true, &logits, pool).ok());
  return logits;
}

class Batching : public ::testing::TestWithParam<std::tuple<std::string, bool>> {};

TEST_P(Batching, SequenceLogitsDoNotDependOnTheBatch) {
  const auto& [name, fast] = GetParam();
  // The GGUF where the case has one, else its Hugging Face folder (deepseek2-fp8).
  const std::string gguf = kKit + name + "/model.gguf";
  auto loaded = Model::Load(std::filesystem::exists(gguf) ? gguf : kKit + name + "/hf", {});
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  Model& m = **loaded;
  m.SetQuantizedActivations(fast);
  const size_t V = m.config().vocab_size;
  ThreadPool pool(2);

  // Three sequences; in the batched run, B and C join late and A's prompt is chunked.
  const std::vector<std::vector<int32_t>> seqs = {RandomTokens(13, V, 1), RandomTokens(9, V, 2),
                                                  RandomTokens(6, V, 3)};
  std::vector<std::vector<float>> solo;
  for (auto& s : seqs) solo.push_back(Solo(m, s, pool));

  // Schedule: (sequence, first token, count) per step.
  struct Part { size_t seq, first, count; };
  const std::vector<std::vector<Part>> schedule = {
      {{0, 0, 5}},
      {{0, 5, 4}, {1, 0, 7}},
      {{0, 9, 1}, {1, 7, 1}, {2, 0, 4}},
      {{2, 4, 1}, {0, 10, 1}, {1, 8, 1}},
      {{0, 11, 2}, {2, 5, 1}},
  };
  std::vector<std::unique_ptr<KvCache>> caches;
  for (auto& s : seqs) caches.push_back(m.NewCache(s.size()));
  for (size_t step = 0; step < schedule.size(); ++step) {
    std::vector<SeqStep> batch;
    for (const Part& p : schedule[step])
      batch.push_back({std::span(seqs[p.seq]).subspan(p.first, p.count), caches[p.seq].get(), true});
    std::vector<float> logits;
    ASSERT_TRUE(m.Forward(batch, &logits, pool).ok());
    size_t row = 0;
    for (const Part& p : schedule[step]) {
      for (size_t i = 0; i < p.count; ++i, ++row) {
        const float* got = logits.data() + row * V;
        const float* want = solo[p.seq].data() + (p.first + i) * V;
        ASSERT_EQ(std::memcmp(got, want, V * sizeof(float)), 0)
            << name << (fast ? " fast" : " exact") << ": step " << step << ", sequence " << p.seq
            << ", position " << p.first + i << " differs from the solo run";
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Kit, Batching,
                         ::testing::Combine(::testing::Values("llama-f32", "qwen3moe-q8_0", "qwen3moe-bf16",
                                                              "deepseek2-q8_0", "deepseek2-bf16",
                                                              "deepseek2-yarn-f32", "deepseek2-fp8"),
                                            ::testing::Bool()),
                         [](const auto& info) {
                           std::string n = std::get<0>(info.param) + (std::get<1>(info.param) ? "_fast" : "_exact");
                           for (char& ch : n)
                             if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           return n;
                         });

TEST(BatchingErrors, BadStepLeavesEveryCacheUntouched) {
  auto loaded = Model::Load(kKit + "llama-f32/model.gguf", {});
  ASSERT_TRUE(loaded.ok());
  Model& m = **loaded;
  ThreadPool pool(2);
  auto a = m.NewCache(8), b = m.NewCache(4);
  const std::vector<int32_t> three = {1, 2, 3}, two = {4, 5};
  std::vector<float> logits;
  ASSERT_TRUE(m.Forward(three, *b, false, &logits, pool).ok());  // b: 3 of 4 used

  std::vector<SeqStep> full = {{three, a.get(), false}, {two, b.get(), false}};
  Status s = m.Forward(full, &logits, pool);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("context is full: 3 cached + 2 new tokens exceed the context size of 4"),
            std::string::npos) << s.message();
  EXPECT_EQ(a->n_past(), 0u);
  EXPECT_EQ(b->n_past(), 3u);

  std::vector<SeqStep> shared = {{three, a.get(), false}, {two, a.get(), false}};
  s = m.Forward(shared, &logits, pool);
  EXPECT_NE(s.message().find("share one cache"), std::string::npos) << s.message();

  const std::vector<int32_t> bad = {1, -7};
  auto c = m.NewCache(4);
  std::vector<SeqStep> oov = {{three, a.get(), false}, {bad, c.get(), false}};
  s = m.Forward(oov, &logits, pool);
  EXPECT_NE(s.message().find("token id -7 at index 1 is outside the vocabulary"), std::string::npos) << s.message();
  EXPECT_EQ(a->n_past(), 0u);
  EXPECT_EQ(c->n_past(), 0u);
}

}  // namespace
}  // namespace moe
