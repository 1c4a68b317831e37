// Shared helper of the model tests: the logits of a prompt's first tokens in one forward
// pass, then of the rest decoded one at a time (the GEMM and the decode kernels both run).
#pragma once

#include <gtest/gtest.h>

#include <span>
#include <vector>

#include "model/model.h"

namespace moe::test {

// [tokens.size(), vocab] logits: tokens[0, prefill) in one pass, then one token per pass.
inline std::vector<float> PrefillThenDecodeLogits(const Model& m, const std::vector<int32_t>& tokens, size_t prefill,
                                                  ThreadPool& pool) {
  auto cache = m.NewCache(tokens.size());
  std::vector<float> all, step;
  EXPECT_TRUE(m.Forward(std::span(tokens).first(prefill), *cache, true, &all, pool).ok());
  for (size_t i = prefill; i < tokens.size(); ++i) {
    EXPECT_TRUE(m.Forward(std::span(tokens).subspan(i, 1), *cache, true, &step, pool).ok());
    all.insert(all.end(), step.begin(), step.end());
  }
  return all;
}

}  // namespace moe::test
