#include "engine/generate.h"

#include <algorithm>

#include "base/timer.h"

namespace moe {

Status Generate(const Model& model, std::span<const int32_t> prompt, const GenerateOptions& opts,
                ThreadPool& pool, const std::function<bool(int32_t)>& on_token, GenerateStats* stats,
                Session* session) {
  MOE_RETURN_IF_ERROR(opts.sampling.Validate());
  if (prompt.empty()) return Status::Error("the prompt is empty");
  if (opts.max_tokens < 0) return Status::Errorf("max_tokens {} must be >= 0", opts.max_tokens);
  size_t ctx = opts.context_size ? opts.context_size : prompt.size() + static_cast<size_t>(opts.max_tokens);
  if (prompt.size() > ctx)
    return Status::Errorf("the prompt has {} tokens, more than the context size of {}", prompt.size(), ctx);
  Session local;
  Session& sess = session ? *session : local;
  if (!sess.cache || sess.cache->capacity() < ctx) {
    sess.cache = model.NewCache(ctx);
    sess.tokens.clear();
  }
  KvCache* cache = sess.cache.get();
  // Reuse the cached prefix; at least the last prompt token is evaluated for its logits.
  size_t keep = 0;
  while (keep < sess.tokens.size() && keep + 1 < prompt.size() && sess.tokens[keep] == prompt[keep]) ++keep;
  cache->set_n_past(keep);
  sess.tokens.assign(prompt.begin(), prompt.begin() + keep);
  Sampler sampler(opts.sampling);
  std::vector<int32_t> history(prompt.begin(), prompt.end());
  std::vector<float> logits;
  GenerateStats st;
  st.prompt_tokens = prompt.size();
  Timer t;
  for (size_t i = keep; i < prompt.size(); i += opts.prefill_chunk) {
    size_t n = std::min(opts.prefill_chunk, prompt.size() - i);
    MOE_RETURN_IF_ERROR(model.Forward(prompt.subspan(i, n), *cache, false, &logits, pool));
    sess.tokens.insert(sess.tokens.end(), prompt.begin() + i, prompt.begin() + i + n);
  }
  st.prefill_seconds = t.Seconds();
  t.Reset();
  for (int32_t k = 0; k < opts.max_tokens; ++k) {
    int32_t tok = sampler.Sample(logits, history);
    if (std::find(opts.stop_ids.begin(), opts.stop_ids.end(), tok) != opts.stop_ids.end()) {
      st.finish = GenerateStats::Finish::kStop;
      break;
    }
    history.push_back(tok);
    ++st.generated_tokens;
    if (!on_token(tok)) {
      st.finish = GenerateStats::Finish::kCancelled;
      break;
    }
    if (k + 1 == opts.max_tokens || cache->n_past() >= cache->capacity()) break;
    int32_t one[1] = {tok};
    MOE_RETURN_IF_ERROR(model.Forward(one, *cache, false, &logits, pool));
    sess.tokens.push_back(tok);
  }
  st.decode_seconds = t.Seconds();
  if (stats) *stats = st;
  return Status();
}

}  // namespace moe
