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

// Best of `repetitions` streaming reads over `bytes` (default 1 GiB) split across threads.
double MeasureReadBandwidth(ThreadPool& pool, size_t bytes = size_t{1} << 30, int repetitions = 5);
// Peak rates of register-only loops on all pool threads.
Roofline MeasurePeaks(ThreadPool& pool);

}  // namespace moe
