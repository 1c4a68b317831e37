#include "engine/sampler.h"

#include <algorithm>
#include <cmath>
#include <unordered_map>

namespace moe {

Status SamplingParams::Validate() const {
  if (!(temperature >= 0 && temperature <= 100)) return Status::Errorf("temperature {} must be in [0, 100]", temperature);
  if (top_k < 0) return Status::Errorf("top_k {} must be >= 0", top_k);
  if (!(top_p > 0 && top_p <= 1)) return Status::Errorf("top_p {} must be in (0, 1]", top_p);
  if (!(min_p >= 0 && min_p <= 1)) return Status::Errorf("min_p {} must be in [0, 1]", min_p);
  if (!(repetition_penalty > 0 && repetition_penalty <= 10))
    return Status::Errorf("repetition_penalty {} must be in (0, 10]", repetition_penalty);
  if (repeat_last_n < 0) return Status::Errorf("repeat_last_n {} must be >= 0", repeat_last_n);
  if (!(std::fabs(presence_penalty) <= 2)) return Status::Errorf("presence_penalty {} must be in [-2, 2]", presence_penalty);
  if (!(std::fabs(frequency_penalty) <= 2)) return Status::Errorf("frequency_penalty {} must be in [-2, 2]", frequency_penalty);
  return Status();
}

void ApplyPenalties(const SamplingParams& p, std::span<float> logits, std::span<const int32_t> history) {
  if (p.repetition_penalty == 1.0f && p.presence_penalty == 0.0f && p.frequency_penalty == 0.0f) return;
  size_t n = std::min<size_t>(history.size(), static_cast<size_t>(p.repeat_last_n));
  std::unordered_map<int32_t, int> counts;
  for (size_t i = history.size() - n; i < history.size(); ++i) counts[history[i]]++;
  for (auto [tok, cnt] : counts) {
    if (tok < 0 || static_cast<size_t>(tok) >= logits.size()) continue;
    float& l = logits[tok];
    // As llama.cpp / CTRL: divide positive logits, multiply negative ones.
    if (p.repetition_penalty != 1.0f) l = l > 0 ? l / p.repetition_penalty : l * p.repetition_penalty;
    l -= p.presence_penalty + p.frequency_penalty * static_cast<float>(cnt);
  }
}

int32_t Sampler::Sample(std::span<float> logits, std::span<const int32_t> history) {
  ApplyPenalties(p_, logits, history);
  cand_.clear();
  if (p_.temperature <= 0.0f) {
    int32_t best = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    cand_.push_back({best, 1.0f});
    return best;
  }
  // Candidates sorted by logit, highest first; lower id first among equals (deterministic).
  std::vector<std::pair<int32_t, float>> c(logits.size());
  for (size_t i = 0; i < logits.size(); ++i) c[i] = {static_cast<int32_t>(i), logits[i]};
  auto by_logit = [](const auto& a, const auto& b) { return a.second > b.second || (a.second == b.second && a.first < b.first); };
  size_t keep = c.size();
  if (p_.top_k > 0) keep = std::min<size_t>(keep, static_cast<size_t>(p_.top_k));
  std::partial_sort(c.begin(), c.begin() + keep, c.end(), by_logit);
  c.resize(keep);
  // Softmax at temperature over the kept candidates.
  auto softmax = [&](std::vector<std::pair<int32_t, float>>& v, std::vector<double>& prob) {
    prob.resize(v.size());
    double mx = v[0].second, sum = 0;
    for (size_t i = 0; i < v.size(); ++i) sum += prob[i] = std::exp((v[i].second - mx) / p_.temperature);
    for (auto& x : prob) x /= sum;
  };
  std::vector<double> prob;
  softmax(c, prob);
  if (p_.top_p < 1.0f) {
    double cum = 0;
    size_t n = 0;
    while (n < c.size()) {
      cum += prob[n++];
      if (cum >= p_.top_p) break;
    }
    c.resize(std::max<size_t>(n, 1));
  }
  if (p_.min_p > 0.0f) {
    double floor = prob[0] * p_.min_p;
    size_t n = 1;
    while (n < c.size() && prob[n] >= floor) ++n;
    c.resize(n);
  }
  softmax(c, prob);
  std::uniform_real_distribution<double> uni(0.0, 1.0);
  double r = uni(rng_), cum = 0;
  int32_t pick = c.back().first;
  for (size_t i = 0; i < c.size(); ++i) {
    cum += prob[i];
    if (r < cum) {
      pick = c[i].first;
      break;
    }
  }
  for (size_t i = 0; i < c.size(); ++i) cand_.push_back({c[i].first, static_cast<float>(prob[i])});
  return pick;
}

}  // namespace moe
