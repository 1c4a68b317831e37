// The continuous-batching scheduler: requests that run together (joining at different steps,
// prompts prefilled in chunks alongside decoding streams) produce exactly the tokens they
// produce alone through Generate() with the same seed; the queue bound, queue timeout,
// cancellation and drain finish every job exactly once with the right reason.
#include <gtest/gtest.h>

#include <future>
#include <map>
#include <random>

#include "engine/generate.h"
#include "engine/scheduler.h"

namespace moe {
namespace {

const std::string kKit = std::string(MOE_TEST_DATA) + "/conformance/";

struct Outcome {
  std::vector<int32_t> tokens;
  std::vector<SampledToken> sampled;
  FinishReason reason = FinishReason::kError;
  std::string message;
  int done_calls = 0;
  std::atomic<int> n_tokens{0};  // read by the test thread while the job runs
};

// A job whose callbacks record into `out`; `done` is fulfilled by on_done.
std::shared_ptr<GenerationJob> RecordingJob(std::vector<int32_t> prompt, const SamplingParams& sp, size_t max_tokens,
                                            Outcome* out, std::promise<void>* done) {
  auto job = std::make_shared<GenerationJob>();
  job->prompt = std::move(prompt);
  job->sampling = sp;
  job->max_tokens = max_tokens;
  job->on_token = [out](const SampledToken& t) {
    out->tokens.push_back(t.id);
    out->sampled.push_back(t);
    ++out->n_tokens;
    return true;
  };
  job->on_done = [out, done](FinishReason r, const Status& s) {
    out->reason = r;
    out->message = s.message();
    if (++out->done_calls == 1) done->set_value();
  };
  return job;
}

std::vector<int32_t> Prompt(size_t n, size_t vocab, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<int32_t> p(n);
  for (auto& t : p) t = static_cast<int32_t>(rng() % vocab);
  return p;
}

class SchedulerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto m = Model::Load(kKit + "qwen3moe-q8_0/model.gguf", {});
    ASSERT_TRUE(m.ok()) << m.status().message();
    model_ = std::move(*m);
    model_->SetQuantizedActivations(true);
  }
  std::unique_ptr<Model> model_;
  ThreadPool pool_{2};
};

TEST_F(SchedulerTest, BatchedRequestsMatchTheirSoloRuns) {
  const size_t V = model_->config().vocab_size;
  constexpr int kJobs = 7;
  std::vector<std::vector<int32_t>> prompts;
  std::vector<SamplingParams> params;
  for (int i = 0; i < kJobs; ++i) {
    prompts.push_back(Prompt(5 + 7 * i, V, 100 + i));  // 5 .. 47 tokens: several prefill chunks
    SamplingParams sp;
    sp.temperature = 0.9f;
    sp.top_k = 40;
    sp.top_p = 0.95f;
    sp.presence_penalty = 0.3f;
    sp.seed = 1000 + i;
    params.push_back(sp);
  }
  // Solo: the plain generation loop, one request at a time.
  std::vector<std::vector<int32_t>> solo(kJobs);
  for (int i = 0; i < kJobs; ++i) {
    GenerateOptions g;
    g.max_tokens = 16;
    g.sampling = params[i];
    g.context_size = 128;
    ASSERT_TRUE(Generate(*model_, prompts[i], g, pool_, [&](int32_t id) { solo[i].push_back(id); return true; }, nullptr).ok());
  }
  // Batched: 3 slots for 7 jobs, 8 tokens per step, so jobs queue, join late and prefill in chunks.
  Scheduler sched(*model_, pool_, {.parallel = 3, .ctx_size = 128, .max_queue = 16, .step_tokens = 8});
  std::vector<Outcome> out(kJobs);
  std::vector<std::promise<void>> done(kJobs);
  for (int i = 0; i < kJobs; ++i)
    ASSERT_TRUE(sched.Submit(RecordingJob(prompts[i], params[i], 16, &out[i], &done[i])).ok());
  for (auto& d : done) d.get_future().wait();
  for (int i = 0; i < kJobs; ++i) {
    EXPECT_EQ(out[i].tokens, solo[i]) << "job " << i;
    EXPECT_EQ(out[i].done_calls, 1);
    EXPECT_EQ(out[i].reason, FinishReason::kLength);
  }
}

TEST_F(SchedulerTest, LogprobsAreThoseOfTheRawDistribution) {
  const size_t V = model_->config().vocab_size;
  auto prompt = Prompt(9, V, 7);
  auto cache = model_->NewCache(64);
  std::vector<float> logits;
  ASSERT_TRUE(model_->Forward(prompt, *cache, false, &logits, pool_).ok());
  double mx = *std::max_element(logits.begin(), logits.end()), sum = 0;
  for (float v : logits) sum += std::exp(v - mx);
  const size_t argmax = std::max_element(logits.begin(), logits.end()) - logits.begin();

  Scheduler sched(*model_, pool_, {.parallel = 1, .ctx_size = 64});
  Outcome out;
  std::promise<void> done;
  auto job = RecordingJob(prompt, {}, 1, &out, &done);  // greedy
  job->top_logprobs = 3;
  ASSERT_TRUE(sched.Submit(job).ok());
  done.get_future().wait();
  ASSERT_EQ(out.sampled.size(), 1u);
  const SampledToken& t = out.sampled[0];
  EXPECT_EQ(t.id, static_cast<int32_t>(argmax));
  EXPECT_NEAR(t.logprob, logits[argmax] - mx - std::log(sum), 1e-4);
  ASSERT_EQ(t.top.size(), 3u);
  EXPECT_EQ(t.top[0].first, t.id);
  EXPECT_GE(t.top[0].second, t.top[1].second);
  EXPECT_GE(t.top[1].second, t.top[2].second);
}

TEST_F(SchedulerTest, QueueBoundTimeoutCancelAndDrain) {
  const size_t V = model_->config().vocab_size;
  Scheduler sched(*model_, pool_, {.parallel = 1, .ctx_size = 4096, .max_queue = 1,
                                   .queue_timeout = std::chrono::milliseconds(0)});
  Outcome a, b, c;
  std::promise<void> da, db, dc;
  auto long_job = RecordingJob(Prompt(4, V, 1), {}, 0, &a, &da);  // runs until cancelled
  ASSERT_TRUE(sched.Submit(long_job).ok());
  while (a.n_tokens == 0) std::this_thread::yield();  // it holds the only slot
  // The queue takes one job, which times out (0 ms) at the next step: rejected, not run.
  ASSERT_TRUE(sched.Submit(RecordingJob(Prompt(4, V, 2), {}, 4, &b, &db)).ok());
  db.get_future().wait();
  EXPECT_EQ(b.reason, FinishReason::kRejected);
  EXPECT_TRUE(b.tokens.empty());
  EXPECT_NE(b.message.find("no free slot"), std::string::npos) << b.message;
  // A prompt that does not fit the context is refused at once, naming the numbers.
  Status s = sched.Submit(RecordingJob(Prompt(4096, V, 3), {}, 4, &c, &dc));
  EXPECT_NE(s.message().find("the prompt has 4096 tokens; the context size is 4096"), std::string::npos) << s.message();
  // Cancelling the running job frees its slot at the next step.
  long_job->cancel = true;
  da.get_future().wait();
  EXPECT_EQ(a.reason, FinishReason::kCancelled);
  EXPECT_EQ(a.done_calls, 1);
  EXPECT_EQ(sched.load().running, 0u);
  // Drain: nothing accepted afterwards.
  sched.Drain(std::chrono::milliseconds(1000));
  EXPECT_FALSE(sched.Submit(RecordingJob(Prompt(4, V, 4), {}, 4, &c, &dc)).ok());
}

TEST_F(SchedulerTest, QueueFullIsRefusedAtSubmit) {
  const size_t V = model_->config().vocab_size;
  Scheduler sched(*model_, pool_, {.parallel = 1, .ctx_size = 4096, .max_queue = 1});
  Outcome a, b, c;
  std::promise<void> da, db, dc;
  auto running = RecordingJob(Prompt(4, V, 1), {}, 0, &a, &da);
  ASSERT_TRUE(sched.Submit(running).ok());
  while (a.n_tokens == 0) std::this_thread::yield();
  auto queued = RecordingJob(Prompt(4, V, 2), {}, 2, &b, &db);
  ASSERT_TRUE(sched.Submit(queued).ok());
  Status s = sched.Submit(RecordingJob(Prompt(4, V, 3), {}, 2, &c, &dc));
  EXPECT_NE(s.message().find("the queue is full (1 requests waiting, all 1 slots busy)"), std::string::npos) << s.message();
  running->cancel = true;
  db.get_future().wait();  // the queued job then runs to its length
  EXPECT_EQ(b.reason, FinishReason::kLength);
  EXPECT_EQ(b.tokens.size(), 2u);
}

}  // namespace
}  // namespace moe
