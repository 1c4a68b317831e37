#include "base/roofline.h"

#include <immintrin.h>
#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <vector>

#include "base/timer.h"

namespace moe {

namespace {

// Horizontal sums through memory (GCC 12 warns falsely inside _mm512_reduce_add_*).
__attribute__((target("avx512f"))) float HSum(__m512 v) {
  alignas(64) float t[16];
  _mm512_store_ps(t, v);
  float s = 0;
  for (float x : t) s += x;
  return s;
}
__attribute__((target("avx512f"))) int64_t HSumI(__m512i v) {
  alignas(64) int32_t t[16];
  _mm512_store_si512(t, v);
  int64_t s = 0;
  for (int32_t x : t) s += x;
  return s;
}

// Sums a buffer with four independent 512-bit accumulators (a read-only stream).
__attribute__((target("avx512f"))) float SumAvx512(const float* p, size_t n) {
  __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
  for (size_t i = 0; i + 64 <= n; i += 64) {
    a0 = _mm512_add_ps(a0, _mm512_load_ps(p + i));
    a1 = _mm512_add_ps(a1, _mm512_load_ps(p + i + 16));
    a2 = _mm512_add_ps(a2, _mm512_load_ps(p + i + 32));
    a3 = _mm512_add_ps(a3, _mm512_load_ps(p + i + 48));
  }
  return HSum(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
}

__attribute__((target("avx2"))) float SumAvx2(const float* p, size_t n) {
  __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
  for (size_t i = 0; i + 32 <= n; i += 32) {
    a0 = _mm256_add_ps(a0, _mm256_load_ps(p + i));
    a1 = _mm256_add_ps(a1, _mm256_load_ps(p + i + 8));
    a2 = _mm256_add_ps(a2, _mm256_load_ps(p + i + 16));
    a3 = _mm256_add_ps(a3, _mm256_load_ps(p + i + 24));
  }
  __m256 s = _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3));
  float out[8];
  _mm256_storeu_ps(out, s);
  float t = 0;
  for (float v : out) t += v;
  return t;
}

float SumScalar(const float* p, size_t n) {
  float s = 0;
  for (size_t i = 0; i < n; ++i) s += p[i];
  return s;
}

std::atomic<float> g_sink{0};

// Register-only loops: 12 independent accumulator chains hide the instruction latency.
constexpr int kChains = 12;
constexpr long kIters = 4'000'000;

__attribute__((target("avx512f"))) double FmaLoop() {
  __m512 acc[kChains];
  for (auto& a : acc) a = _mm512_set1_ps(0.0f);
  const __m512 x = _mm512_set1_ps(1.0000001f), y = _mm512_set1_ps(0.9999999f);
  for (long i = 0; i < kIters; ++i)
    for (auto& a : acc) a = _mm512_fmadd_ps(x, y, a);
  __m512 s = acc[0];
  for (int k = 1; k < kChains; ++k) s = _mm512_add_ps(s, acc[k]);
  g_sink = g_sink + HSum(s);
  return 32.0 * kChains * kIters;  // 16 lanes × (mul + add)
}

__attribute__((target("avx512f,avx512bf16"))) double Bf16Loop() {
  __m512 acc[kChains];
  for (auto& a : acc) a = _mm512_set1_ps(0.0f);
  const __m512bh x = (__m512bh)_mm512_set1_epi16(0x3f80), y = (__m512bh)_mm512_set1_epi16(0x3f80);
  for (long i = 0; i < kIters; ++i)
    for (auto& a : acc) a = _mm512_dpbf16_ps(a, x, y);
  __m512 s = acc[0];
  for (int k = 1; k < kChains; ++k) s = _mm512_add_ps(s, acc[k]);
  g_sink = g_sink + HSum(s);
  return 64.0 * kChains * kIters;  // 32 bf16 pairs × (mul + add)
}

__attribute__((target("avx512f,avx512bw,avx512vnni"))) double Int8Loop() {
  __m512i acc[kChains];
  for (auto& a : acc) a = _mm512_setzero_si512();
  const __m512i x = _mm512_set1_epi8(1), y = _mm512_set1_epi8(2);
  for (long i = 0; i < kIters; ++i)
    for (auto& a : acc) a = _mm512_dpbusd_epi32(a, x, y);
  __m512i s = acc[0];
  for (int k = 1; k < kChains; ++k) s = _mm512_add_epi32(s, acc[k]);
  g_sink = g_sink + static_cast<float>(HSumI(s));
  return 128.0 * kChains * kIters;  // 64 u8×s8 products + adds
}

// Rate of `loop` summed over the pool's threads (each runs it once per pass, timed by the
// caller), the best of kPeakPasses passes: a pass is ~10 ms, and on a shared host a
// neighbour taking the core for part of one pass read as a lower peak (int8 565-1350 GOP/s
// from one `moe bench` to the next on the same 2 cores, single passes).
constexpr int kPeakPasses = 7;

double PoolRate(ThreadPool& pool, double (*loop)()) {
  std::vector<double> ops(pool.size());
  loop();  // warm up clocks
  double best = 0;
  for (int pass = 0; pass < kPeakPasses; ++pass) {
    Timer t;
    pool.Run([&](int i, int) { ops[i] = loop(); });
    const double s = t.Seconds();
    double total = 0;
    for (double o : ops) total += o;
    best = std::max(best, total / s / 1e9);
  }
  return best;
}

}  // namespace

ReadBandwidthProbe::ReadBandwidthProbe(ThreadPool& pool, size_t bytes) : pool_(pool), bytes_(bytes) {
  void* mem = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) return;
  madvise(mem, bytes, MADV_HUGEPAGE);
  data_ = static_cast<float*>(mem);
  float* p = data_;
  pool.ParallelFor(bytes / sizeof(float), 1 << 20, [&](size_t b, size_t e) { std::fill(p + b, p + e, 1.0f); });
}

ReadBandwidthProbe::~ReadBandwidthProbe() {
  if (data_ != nullptr) munmap(data_, bytes_);
}

double ReadBandwidthProbe::Measure(int repetitions) {
  if (data_ == nullptr) return 0;
  const size_t n = bytes_ / sizeof(float);
  const bool avx512 = __builtin_cpu_supports("avx512f"), avx2 = __builtin_cpu_supports("avx2");
  double best = 0;
  for (int r = 0; r < repetitions; ++r) {
    Timer t;
    pool_.Run([&](int i, int nt) {
      size_t chunk = (n / nt) & ~size_t{63};
      const float* q = data_ + chunk * i;
      float s = avx512 ? SumAvx512(q, chunk) : avx2 ? SumAvx2(q, chunk) : SumScalar(q, chunk);
      g_sink = g_sink + s;
    });
    double sec = t.Seconds();
    best = std::max(best, bytes_ / sec / 1e9);
  }
  return best;
}

Roofline MeasurePeaks(ThreadPool& pool) {
  Roofline r;
  if (__builtin_cpu_supports("avx512f")) r.fp32_fma_gflops = PoolRate(pool, FmaLoop);
  if (__builtin_cpu_supports("avx512bf16")) r.bf16_dot_gflops = PoolRate(pool, Bf16Loop);
  if (__builtin_cpu_supports("avx512vnni")) r.int8_dot_gops = PoolRate(pool, Int8Loop);
  return r;
}

}  // namespace moe
