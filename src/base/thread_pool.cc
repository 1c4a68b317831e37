#include "base/thread_pool.h"

#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <utility>

namespace moe {

int ThreadPool::PhysicalCores() {
  // Count distinct (physical id, core id) pairs; SMT siblings share one.
  std::ifstream in("/proc/cpuinfo");
  std::set<std::pair<int, int>> cores;
  std::string line;
  int phys = 0;
  while (std::getline(in, line)) {
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    if (line.rfind("physical id", 0) == 0) phys = std::atoi(line.c_str() + colon + 1);
    if (line.rfind("core id", 0) == 0) cores.insert({phys, std::atoi(line.c_str() + colon + 1)});
  }
  int hw = static_cast<int>(std::thread::hardware_concurrency());
  int n = cores.empty() ? hw : static_cast<int>(cores.size());
  return std::max(1, std::min(n, std::max(hw, 1)));
}

ThreadPool::ThreadPool(int n_threads) {
  n_threads_ = n_threads > 0 ? n_threads : PhysicalCores();
  for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this, i] { WorkerLoop(i); });
  // Pin each worker to one CPU where the OS allows; failure is harmless.
  int ncpu = static_cast<int>(std::thread::hardware_concurrency());
  if (ncpu >= n_threads_) {
    for (int i = 1; i < n_threads_; ++i) {
      cpu_set_t set;
      CPU_ZERO(&set);
      CPU_SET(i % ncpu, &set);
      pthread_setaffinity_np(workers_[i - 1].native_handle(), sizeof(set), &set);
    }
  }
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    ++generation_;
  }
  cv_start_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::WorkerLoop(int index) {
  uint64_t seen = 0;
  for (;;) {
    const std::function<void(int, int)>* job = nullptr;
    {
      // Spin briefly before sleeping: regions arrive back to back during a forward pass.
      for (int spin = 0; spin < 20000; ++spin) {
        if (__atomic_load_n(&generation_, __ATOMIC_ACQUIRE) != seen) break;
#if defined(__x86_64__)
        __builtin_ia32_pause();
#endif
      }
      std::unique_lock<std::mutex> lock(mu_);
      cv_start_.wait(lock, [&] { return generation_ != seen; });
      seen = generation_;
      if (stop_) return;
      job = job_;
    }
    (*job)(index, n_threads_);
    pending_.fetch_sub(1, std::memory_order_acq_rel);
  }
}

void ThreadPool::Run(const std::function<void(int, int)>& fn) {
  if (n_threads_ == 1) {
    fn(0, 1);
    return;
  }
  pending_.store(n_threads_ - 1, std::memory_order_release);
  {
    std::lock_guard<std::mutex> lock(mu_);
    job_ = &fn;
    __atomic_store_n(&generation_, generation_ + 1, __ATOMIC_RELEASE);
  }
  cv_start_.notify_all();
  fn(0, n_threads_);
  while (pending_.load(std::memory_order_acquire) != 0) {
#if defined(__x86_64__)
    __builtin_ia32_pause();
#endif
  }
}

void ThreadPool::ParallelFor(size_t n, size_t grain,
                             const std::function<void(size_t, size_t)>& fn) {
  if (n == 0) return;
  grain = std::max<size_t>(grain, 1);
  size_t max_chunks = (n + grain - 1) / grain;
  int used = static_cast<int>(std::min<size_t>(max_chunks, n_threads_));
  if (used <= 1) {
    fn(0, n);
    return;
  }
  Run([&](int t, int) {
    if (t >= used) return;
    size_t begin = n * t / used, end = n * (t + 1) / used;
    if (begin < end) fn(begin, end);
  });
}

void ThreadPool::ForEachItem(size_t items, const std::function<void(size_t, int)>& fn) {
  std::atomic<size_t> next{0};
  Run([&](int t, int) {
    for (size_t i; (i = next.fetch_add(1, std::memory_order_relaxed)) < items;) fn(i, t);
  });
}

namespace {
std::unique_ptr<ThreadPool>& PoolSlot() {
  static std::unique_ptr<ThreadPool> pool;
  return pool;
}
}  // namespace

void SetGlobalPoolThreads(int threads) { PoolSlot() = std::make_unique<ThreadPool>(threads); }

ThreadPool& GlobalPool() {
  auto& p = PoolSlot();
  if (!p) p = std::make_unique<ThreadPool>(0);
  return *p;
}

}  // namespace moe
