// Continuous batching: one thread runs the model over every active request at once. Each
// step, every decoding request contributes its next token and prefilling requests share
// what is left of the step's token budget (a long prompt goes in chunks, so running streams
// keep flowing). Requests join and leave between steps; a request's tokens are exactly those
// of running it alone with the same seed (Model::Forward's batch independence).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "engine/sampler.h"
#include "model/model.h"

namespace moe {

// One sampled token, with log-probabilities of the model's distribution when asked for.
struct SampledToken {
  int32_t id = -1;
  float logprob = 0;                               // log p(id) from the raw logits
  std::vector<std::pair<int32_t, float>> top;      // the most likely tokens, best first
};

enum class FinishReason { kStop, kLength, kCancelled, kRejected, kError };

struct GenerationJob {
  std::vector<int32_t> prompt;
  SamplingParams sampling;
  size_t max_tokens = 0;             // 0: until the context is full
  std::vector<int32_t> stop_ids;     // end-of-generation tokens (not emitted)
  int top_logprobs = -1;             // -1: no log-probabilities; else how many alternatives

  // Called on the scheduler thread. on_token returns false to finish now (a stop string
  // matched): the reason is then kStop. on_done is called exactly once per submitted job.
  std::function<bool(const SampledToken&)> on_token;
  std::function<void(FinishReason, const Status&)> on_done;

  std::atomic<bool> cancel{false};   // set from any thread: finished as kCancelled at the next step

  // Filled in by the scheduler.
  size_t prompt_tokens = 0, cached_tokens = 0, generated_tokens = 0;
  std::chrono::steady_clock::time_point enqueued;
};

struct SchedulerOptions {
  size_t parallel = 4;          // requests decoding at once (one KV cache each)
  size_t ctx_size = 4096;       // tokens per request's cache
  size_t max_queue = 64;        // requests waiting for a slot; more are rejected at once
  std::chrono::milliseconds queue_timeout{30000};  // waiting longer finishes as kRejected
  size_t step_tokens = 256;     // most tokens per forward step (decode first, prefill chunks share the rest)
};

class Scheduler {
 public:
  Scheduler(const Model& model, ThreadPool& pool, const SchedulerOptions& opts);
  ~Scheduler();  // cancels whatever is left and joins the thread

  // Queues a job, or fails at once (queue full, draining, prompt does not fit) without
  // calling on_done.
  Status Submit(std::shared_ptr<GenerationJob> job);

  // Stops accepting work; queued jobs finish as kRejected; running ones continue until they
  // end or `grace` passes, then are cancelled. Returns when nothing is left.
  void Drain(std::chrono::milliseconds grace);

  struct Load {
    size_t running = 0, queued = 0;
    size_t kv_used = 0, kv_capacity = 0;  // tokens held in the caches of running requests / all
  };
  Load load() const;
  const SchedulerOptions& options() const { return opts_; }

 private:
  struct Slot;
  void Loop();
  void Step(std::vector<Slot*>& active);
  void Finish(Slot& s, FinishReason r, const Status& st = {});

  const Model& model_;
  ThreadPool& pool_;
  SchedulerOptions opts_;
  std::vector<std::unique_ptr<Slot>> slots_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<GenerationJob>> queue_;
  bool draining_ = false, stop_ = false;
  std::chrono::steady_clock::time_point drain_deadline_;
  std::atomic<size_t> running_{0}, kv_used_{0};
  std::thread thread_;
};

}  // namespace moe
