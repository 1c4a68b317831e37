// Logits of every position of a token sequence from an empty cache, in one causal pass:
// [n_tokens, vocab] row-major. Shared by `moe eval-logits` and the conformance tests.
#pragma once

#include <span>
#include <vector>

#include "model/model.h"

namespace moe {

inline Result<std::vector<float>> EvalLogits(const Model& model, std::span<const int32_t> tokens,
                                             ThreadPool& pool) {
  auto cache = model.NewCache(tokens.size());
  std::vector<float> logits;
  MOE_RETURN_IF_ERROR(model.Forward(tokens, *cache, /*all_logits=*/true, &logits, pool));
  return logits;
}

}  // namespace moe
