// One persistent pool of worker threads per process. Work is submitted as a parallel region
// (`Run(fn)`: fn(thread_index, n_threads) on every thread, the caller being thread 0) that
// ends in a barrier; no thread is created on the hot path.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace moe {

class ThreadPool {
 public:
  // n_threads includes the calling thread; 0 means the number of physical cores.
  explicit ThreadPool(int n_threads = 0);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }

  // Runs fn(thread_index, n_threads) on all threads and returns when every call returned.
  void Run(const std::function<void(int, int)>& fn);

  // Splits [0, n) into contiguous chunks of at least `grain` items, one region.
  void ParallelFor(size_t n, size_t grain, const std::function<void(size_t, size_t)>& fn);

  // Runs fn(item, thread_index) for every item in [0, items), each thread taking the next free
  // item from a shared counter, one region: for items of uneven cost.
  void ForEachItem(size_t items, const std::function<void(size_t, int)>& fn);

  // Physical cores of this machine (falls back to hardware_concurrency).
  static int PhysicalCores();

 private:
  void WorkerLoop(int index);

  int n_threads_;
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable cv_start_;
  const std::function<void(int, int)>* job_ = nullptr;
  uint64_t generation_ = 0;
  std::atomic<int> pending_{0};
  bool stop_ = false;
};

// A process-wide pool, created on first use with `threads` (0 = physical cores).
ThreadPool& GlobalPool();
void SetGlobalPoolThreads(int threads);

}  // namespace moe
