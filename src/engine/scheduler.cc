#include "engine/scheduler.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <optional>

namespace moe {

struct Scheduler::Slot {
  std::unique_ptr<KvCache> cache;
  std::vector<int32_t> cached;  // exactly the tokens in `cache` (kept after a job for prefix reuse)
  std::shared_ptr<GenerationJob> job;
  size_t prefilled = 0;         // prompt tokens in the cache
  std::optional<Sampler> sampler;
  std::vector<int32_t> history;  // prompt + generated, for the penalties
  int32_t next = -1;             // the sampled token to feed next step
  size_t max_tokens = 0;
  uint64_t admitted = 0;         // admission order: prefill is served first come, first served
};

Scheduler::Scheduler(const Model& model, ThreadPool& pool, const SchedulerOptions& opts)
    : model_(model), pool_(pool), opts_(opts) {
  for (size_t i = 0; i < opts_.parallel; ++i) {
    auto s = std::make_unique<Slot>();
    s->cache = model_.NewCache(opts_.ctx_size);
    slots_.push_back(std::move(s));
  }
  thread_ = std::thread([this] { Loop(); });
}

Scheduler::~Scheduler() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

Status Scheduler::Submit(std::shared_ptr<GenerationJob> job) {
  if (job->prompt.empty()) return Status::Error("the prompt is empty");
  if (job->prompt.size() >= opts_.ctx_size)
    return Status::Errorf("the prompt has {} tokens; the context size is {}", job->prompt.size(), opts_.ctx_size);
  MOE_RETURN_IF_ERROR(job->sampling.Validate());
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (draining_ || stop_) return Status::Error("the server is shutting down");
    // A job waits in the queue until the loop admits it, so free slots count as room too.
    const size_t free_slots = opts_.parallel - std::min(opts_.parallel, running_.load());
    if (queue_.size() >= opts_.max_queue + free_slots)
      return Status::Errorf("the queue is full ({} requests waiting, all {} slots busy)", queue_.size(), opts_.parallel);
    job->prompt_tokens = job->prompt.size();
    job->enqueued = std::chrono::steady_clock::now();
    queue_.push_back(std::move(job));
  }
  cv_.notify_all();
  return Status();
}

void Scheduler::Drain(std::chrono::milliseconds grace) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    draining_ = true;
    drain_deadline_ = std::chrono::steady_clock::now() + grace;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

Scheduler::Load Scheduler::load() const {
  Load l;
  {
    std::lock_guard<std::mutex> lk(mu_);
    l.queued = queue_.size();
  }
  l.running = running_.load();
  l.kv_used = kv_used_.load();
  l.kv_capacity = opts_.parallel * opts_.ctx_size;
  return l;
}

void Scheduler::Finish(Slot& s, FinishReason r, const Status& st) {
  auto job = std::move(s.job);
  s.job.reset();
  s.sampler.reset();
  --running_;
  job->on_done(r, st);
}

void Scheduler::Loop() {
  uint64_t admissions = 0;
  while (true) {
    std::vector<std::shared_ptr<GenerationJob>> rejected;
    bool cancel_all = false, exit = false, shutting = false;
    {
      std::unique_lock<std::mutex> lk(mu_);
      const auto now = std::chrono::steady_clock::now();
      // Admit into free slots, preferring the slot whose cached tokens share the longest
      // prefix with the prompt (a chat's next turn skips re-reading its history).
      while (!queue_.empty() && !draining_ && !stop_) {
        auto& job = queue_.front();
        Slot* best = nullptr;
        size_t best_keep = 0;
        for (auto& s : slots_) {
          if (s->job) continue;
          size_t keep = 0;
          while (keep < s->cached.size() && keep + 1 < job->prompt.size() && s->cached[keep] == job->prompt[keep]) ++keep;
          if (!best || keep > best_keep) best = s.get(), best_keep = keep;
        }
        if (!best) break;
        Slot& s = *best;
        s.job = std::move(job);
        queue_.pop_front();
        s.cache->set_n_past(best_keep);
        s.cached.resize(best_keep);
        s.prefilled = best_keep;
        s.job->cached_tokens = best_keep;
        s.sampler.emplace(s.job->sampling);
        s.history = s.job->prompt;
        const size_t room = opts_.ctx_size - s.job->prompt.size();
        s.max_tokens = s.job->max_tokens ? std::min(s.job->max_tokens, room) : room;
        s.admitted = admissions++;
        ++running_;
      }
      // What still waits after admission: given up on when too old, or when shutting down.
      for (auto it = queue_.begin(); it != queue_.end();) {
        if (draining_ || stop_ || (*it)->cancel || now - (*it)->enqueued > opts_.queue_timeout) {
          rejected.push_back(std::move(*it));
          it = queue_.erase(it);
        } else {
          ++it;
        }
      }
      shutting = draining_ || stop_;
      cancel_all = stop_ || (draining_ && now >= drain_deadline_);
      if (running_ == 0 && rejected.empty()) {
        if (stop_ || draining_) exit = true;
        else cv_.wait(lk, [&] { return stop_ || draining_ || !queue_.empty(); });
      }
    }
    for (auto& job : rejected)
      job->on_done(job->cancel ? FinishReason::kCancelled : FinishReason::kRejected,
                   shutting ? Status::Error("the server is shutting down")
                                      : Status::Errorf("no free slot within {} ms", opts_.queue_timeout.count()));
    if (exit) break;
    std::vector<Slot*> active;
    for (auto& s : slots_) {
      if (!s->job) continue;
      if (s->job->cancel || cancel_all) Finish(*s, FinishReason::kCancelled);
      else active.push_back(s.get());
    }
    if (!active.empty()) {
      Step(active);
      // The step's tokens went to other threads (HTTP I/O) that share these cores with the
      // compute pool: give them the CPU now rather than at the end of our time slice.
      std::this_thread::yield();
    }
    size_t used = 0;
    for (auto& s : slots_)
      if (s->job) used += s->cache->n_past();
    kv_used_ = used;
  }
}

void Scheduler::Step(std::vector<Slot*>& active) {
  const size_t V = model_.config().vocab_size;
  std::vector<SeqStep> batch;
  std::vector<Slot*> who;
  size_t budget = opts_.step_tokens;
  for (Slot* s : active) {
    if (s->prefilled < s->job->prompt.size()) continue;
    batch.push_back({std::span<const int32_t>(&s->next, 1), s->cache.get(), false});
    who.push_back(s);
    budget -= std::min<size_t>(budget, 1);
  }
  std::sort(active.begin(), active.end(), [](Slot* a, Slot* b) { return a->admitted < b->admitted; });
  for (Slot* s : active) {
    const size_t left = s->job->prompt.size() - s->prefilled;
    if (left == 0 || budget == 0) continue;
    const size_t take = std::min(left, budget);
    batch.push_back({std::span<const int32_t>(s->job->prompt).subspan(s->prefilled, take), s->cache.get(), false});
    who.push_back(s);
    budget -= take;
  }
  if (batch.empty()) return;
  std::vector<float> logits;
  Status st = model_.Forward(batch, &logits, pool_);
  if (!st.ok()) {
    for (Slot* s : who) Finish(*s, FinishReason::kError, st);
    return;
  }
  std::vector<float> raw;     // a row's logits before the sampler's penalties (logprobs)
  std::vector<int32_t> ids;   // scratch for the top-N search
  for (size_t k = 0; k < who.size(); ++k) {
    Slot& s = *who[k];
    GenerationJob& job = *s.job;
    s.cached.insert(s.cached.end(), batch[k].tokens.begin(), batch[k].tokens.end());
    if (s.prefilled < job.prompt.size()) {
      s.prefilled += batch[k].tokens.size();
      if (s.prefilled < job.prompt.size()) continue;  // more prompt to go: no token yet
    }
    std::span<float> row(logits.data() + k * V, V);
    SampledToken t;
    float lse = 0;
    if (job.top_logprobs >= 0) {
      raw.assign(row.begin(), row.end());
      const float mx = *std::max_element(raw.begin(), raw.end());
      double sum = 0;
      for (float v : raw) sum += std::exp(static_cast<double>(v - mx));
      lse = mx + static_cast<float>(std::log(sum));
      ids.resize(V);
      std::iota(ids.begin(), ids.end(), 0);
      const size_t n_top = std::min<size_t>(static_cast<size_t>(job.top_logprobs), V);
      std::partial_sort(ids.begin(), ids.begin() + n_top, ids.end(),
                        [&](int32_t a, int32_t b) { return raw[a] > raw[b] || (raw[a] == raw[b] && a < b); });
      for (size_t i = 0; i < n_top; ++i) t.top.push_back({ids[i], raw[ids[i]] - lse});
    }
    t.id = s.sampler->Sample(row, s.history);
    if (job.top_logprobs >= 0) t.logprob = raw[t.id] - lse;
    if (std::find(job.stop_ids.begin(), job.stop_ids.end(), t.id) != job.stop_ids.end()) {
      Finish(s, FinishReason::kStop);
      continue;
    }
    s.history.push_back(t.id);
    ++job.generated_tokens;
    if (!job.on_token(t)) Finish(s, FinishReason::kStop);
    else if (job.generated_tokens >= s.max_tokens || s.cache->n_past() >= s.cache->capacity())
      Finish(s, FinishReason::kLength);
    else s.next = t.id;
  }
}

}  // namespace moe
