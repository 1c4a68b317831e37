// The generation loop for one sequence: batched prefill of the prompt (in chunks), then
// token-by-token decode with the KV cache, sampling each token, until a stop condition.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "engine/sampler.h"
#include "model/model.h"

namespace moe {

struct GenerateOptions {
  int32_t max_tokens = 128;
  SamplingParams sampling;
  std::vector<int32_t> stop_ids;  // end-of-generation tokens (not emitted)
  size_t prefill_chunk = 512;
  size_t context_size = 0;        // 0: prompt + max_tokens
};

struct GenerateStats {
  size_t prompt_tokens = 0;
  size_t generated_tokens = 0;
  double prefill_seconds = 0;
  double decode_seconds = 0;
  enum class Finish { kLength, kStop, kCancelled } finish = Finish::kLength;
};

// A cache kept across calls (a chat): the tokens it holds, so the next prompt only
// prefills what follows their longest common prefix.
struct Session {
  std::unique_ptr<KvCache> cache;
  std::vector<int32_t> tokens;  // exactly the tokens evaluated into `cache`
};

// on_token returns false to stop early (cancellation). With a session, its cache is reused
// (and created with opts.context_size when missing).
Status Generate(const Model& model, std::span<const int32_t> prompt, const GenerateOptions& opts,
                ThreadPool& pool, const std::function<bool(int32_t)>& on_token, GenerateStats* stats,
                Session* session = nullptr);

}  // namespace moe
