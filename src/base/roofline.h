// Measures the machine's limits in the same run as a benchmark, so results can be quoted
// as fractions of them: memory read bandwidth (a streaming read over a buffer far larger
// than the caches) and peak dot-product rates (tight register-only loops of FMA, AVX-512
// BF16 vdpbf16ps and VNNI vpdpbusd), each on every thread of the pool.
#pragma once

#include <cstddef>

#include "base/thread_pool.h"

namespace moe {

struct Roofline {
  double read_bandwidth_gbs = 0;  // GB/s (1e9 bytes)
  double fp32_fma_gflops = 0;     // 0 when the instruction set is not available
  double bf16_dot_gflops = 0;
  double int8_dot_gops = 0;
};

// A buffer of `bytes` (huge pages where the OS gives them) whose streaming read rate, split
// across the pool's threads, is the machine's read bandwidth. Kept between measurements so a
// benchmark can sample the bandwidth beside each timed run: on shared machines it changes
// from minute to minute (here between about 35 and 60 GB/s), and a single reading at start
// made decode look like 50% or 105% of it depending on the state at each moment.
class ReadBandwidthProbe {
 public:
  explicit ReadBandwidthProbe(ThreadPool& pool, size_t bytes = size_t{1} << 30);
  ~ReadBandwidthProbe();
  ReadBandwidthProbe(const ReadBandwidthProbe&) = delete;
  ReadBandwidthProbe& operator=(const ReadBandwidthProbe&) = delete;
  // Best GB/s of `repetitions` passes; 0 when the buffer could not be mapped.
  double Measure(int repetitions = 5);

 private:
  ThreadPool& pool_;
  size_t bytes_;
  float* data_ = nullptr;
};

// Peak rates of register-only loops on all pool threads.
Roofline MeasurePeaks(ThreadPool& pool);

}  // namespace moe
