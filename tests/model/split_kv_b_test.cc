// DeepSeek GGUFs from newer llama.cpp conversions store MLA's kv_b split per head
// (attn_k_b: W_UK transposed, attn_v_b: W_UV). A model written that way from the same values
// as its unsplit twin (`moe synth --split-kv-b`) must compute the same logits: W_UK's
// products sum the same terms in another order, so within float rounding, not bitwise.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <random>

#include "model/model.h"
#include "model/synth.h"
#include "forward_logits.h"

namespace moe {
namespace {

std::vector<float> Logits(Model& m, bool fast, const std::vector<int32_t>& tokens, ThreadPool& pool) {
  m.SetQuantizedActivations(fast);
  return test::PrefillThenDecodeLogits(m, tokens, 5, pool);
}

double MaxDiff(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  double d = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) d = std::max(d, static_cast<double>(std::fabs(a[i] - b[i])));
  return d;
}

TEST(SplitKvB, GivesTheLogitsOfTheUnsplitTwin) {
  ThreadPool pool(2);
  for (DType dt : {DType::kF32, DType::kBF16, DType::kQ8_0}) {
    const std::string joined = ::testing::TempDir() + "/kvb_joined.gguf", split = ::testing::TempDir() + "/kvb_split.gguf";
    ASSERT_TRUE(SynthesizeModel({.arch = "deepseek-v3", .preset = "small", .type = dt}, joined).ok());
    ASSERT_TRUE(SynthesizeModel({.arch = "deepseek-v3", .preset = "small", .type = dt, .split_kv_b = true}, split).ok());
    auto a = Model::Load(joined, {});
    auto b = Model::Load(split, {});
    ASSERT_TRUE(a.ok()) << a.status().message();
    ASSERT_TRUE(b.ok()) << b.status().message();
    EXPECT_TRUE((*b)->unused_tensors().empty());
    EXPECT_EQ((*a)->stats().active_bytes_per_token, (*b)->stats().active_bytes_per_token);
    std::mt19937 rng(3);
    std::vector<int32_t> tokens(8);
    for (auto& t : tokens) t = static_cast<int32_t>(rng() % (*a)->config().vocab_size);
    const std::vector<float> exact = Logits(**a, false, tokens, pool);
    double scale = 1;
    for (float v : exact) scale = std::max(scale, static_cast<double>(std::fabs(v)));
    const std::string name(DTypeName(dt));
    if (dt != DType::kQ8_0) {
      // Float weights hold the same values in both forms: the exact path differs only in order.
      EXPECT_LE(MaxDiff(Logits(**b, false, tokens, pool), exact), 1e-4 * scale) << name << " exact";
    }
    // The fast path rounds W_UK's input per row of the stored matrix: kv_b rounds nothing
    // there (its transposed product stays float for BF16) or rounds against the latent's
    // blocks (Q8_0), k_b rounds q_nope as any linear input. These random models magnify any
    // rounding, so the twin must stay within twice what the fast path alone moves them.
    const double noise = MaxDiff(Logits(**a, true, tokens, pool), exact);
    const double diff = MaxDiff(Logits(**b, true, tokens, pool), exact);
    EXPECT_TRUE(std::isfinite(diff)) << name;
    EXPECT_LE(diff, 2 * noise + 1e-4 * scale) << name << " fast (the fast path alone: " << noise << ")";
    std::remove(joined.c_str());
    std::remove(split.c_str());
  }
}

TEST(SplitKvB, Q8_0NeedsWholeBlocksPerHead) {
  const std::string path = ::testing::TempDir() + "/kvb_tiny.gguf";
  // qk_nope_head_dim 16 (the tiny preset) is not a whole Q8_0 block.
  const Status s = SynthesizeModel({.arch = "deepseek-v3", .preset = "tiny", .type = DType::kQ8_0, .split_kv_b = true}, path);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("multiple of 32"), std::string::npos) << s.message();
  std::remove(path.c_str());
}

}  // namespace
}  // namespace moe
