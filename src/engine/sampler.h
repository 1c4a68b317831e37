// Token sampling from logits: repetition/presence/frequency penalties, then top-k, top-p,
// min-p and temperature, then a draw from a seeded generator; temperature 0 is greedy.
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <vector>

#include "base/status.h"

namespace moe {

struct SamplingParams {
  float temperature = 0.0f;         // 0: greedy (argmax)
  int32_t top_k = 0;                // 0: off
  float top_p = 1.0f;               // 1: off
  float min_p = 0.0f;               // 0: off
  float repetition_penalty = 1.0f;  // 1: off; >1 discourages tokens seen in the window
  int32_t repeat_last_n = 64;       // window of previous tokens the penalties look at
  float presence_penalty = 0.0f;    // OpenAI-style, subtracted once per seen token
  float frequency_penalty = 0.0f;   // subtracted per occurrence
  uint64_t seed = 0;

  Status Validate() const;
};

class Sampler {
 public:
  explicit Sampler(const SamplingParams& p) : p_(p), rng_(p.seed) {}
  // Picks a token from logits [vocab] (modified in place by penalties); `history` holds the
  // tokens so far (prompt and generated).
  int32_t Sample(std::span<float> logits, std::span<const int32_t> history);
  // Probabilities after the filters of the last Sample call, for logprobs: (token, p).
  const std::vector<std::pair<int32_t, float>>& candidates() const { return cand_; }

 private:
  SamplingParams p_;
  std::mt19937_64 rng_;
  std::vector<std::pair<int32_t, float>> cand_;
};

// Applies the penalties of p to logits given the history window.
void ApplyPenalties(const SamplingParams& p, std::span<float> logits, std::span<const int32_t> history);

}  // namespace moe
