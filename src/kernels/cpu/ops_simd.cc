// The vector ops on attention's inner loops (q·k scores and the weighted sum of values), for
// every Highway target, dispatched at run time: the rest of ops.cc is compiled for the
// baseline ISA and these two carry most of attention's arithmetic.
#include "kernels/cpu/ops.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/cpu/ops_simd.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace moe {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Four independent accumulators hide the FMA latency; the tail is scalar.
float DotSimd(const float* a, const float* b, size_t n) {
  const hn::ScalableTag<float> d;
  const size_t N = hn::Lanes(d);
  auto s0 = hn::Zero(d), s1 = hn::Zero(d), s2 = hn::Zero(d), s3 = hn::Zero(d);
  size_t i = 0;
  for (; i + 4 * N <= n; i += 4 * N) {
    s0 = hn::MulAdd(hn::LoadU(d, a + i), hn::LoadU(d, b + i), s0);
    s1 = hn::MulAdd(hn::LoadU(d, a + i + N), hn::LoadU(d, b + i + N), s1);
    s2 = hn::MulAdd(hn::LoadU(d, a + i + 2 * N), hn::LoadU(d, b + i + 2 * N), s2);
    s3 = hn::MulAdd(hn::LoadU(d, a + i + 3 * N), hn::LoadU(d, b + i + 3 * N), s3);
  }
  for (; i + N <= n; i += N) s0 = hn::MulAdd(hn::LoadU(d, a + i), hn::LoadU(d, b + i), s0);
  float s = hn::GetLane(hn::SumOfLanes(d, hn::Add(hn::Add(s0, s1), hn::Add(s2, s3))));
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

void AddScaledSimd(float a, const float* x, size_t n, float* y) {
  const hn::ScalableTag<float> d;
  const size_t N = hn::Lanes(d);
  const auto va = hn::Set(d, a);
  size_t i = 0;
  for (; i + N <= n; i += N) hn::StoreU(hn::MulAdd(va, hn::LoadU(d, x + i), hn::LoadU(d, y + i)), d, y + i);
  for (; i < n; ++i) y[i] += a * x[i];
}

void AddScaledRowsSimd(const float* a, const float* x, size_t x_stride, size_t n_rows, size_t n, float* y) {
  const hn::ScalableTag<float> d;
  const size_t N = hn::Lanes(d);
  size_t i = 0;
  for (; i + 2 * N <= n; i += 2 * N) {
    auto y0 = hn::LoadU(d, y + i), y1 = hn::LoadU(d, y + i + N);
    for (size_t k = 0; k < n_rows; ++k) {
      const auto ak = hn::Set(d, a[k]);
      const float* xk = x + k * x_stride + i;
      y0 = hn::MulAdd(ak, hn::LoadU(d, xk), y0);
      y1 = hn::MulAdd(ak, hn::LoadU(d, xk + N), y1);
    }
    hn::StoreU(y0, d, y + i);
    hn::StoreU(y1, d, y + i + N);
  }
  for (; i + N <= n; i += N) {
    auto y0 = hn::LoadU(d, y + i);
    for (size_t k = 0; k < n_rows; ++k) y0 = hn::MulAdd(hn::Set(d, a[k]), hn::LoadU(d, x + k * x_stride + i), y0);
    hn::StoreU(y0, d, y + i);
  }
  for (; i < n; ++i)
    for (size_t k = 0; k < n_rows; ++k) y[i] += a[k] * x[k * x_stride + i];
}

}  // namespace HWY_NAMESPACE
}  // namespace moe
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace moe {
HWY_EXPORT(DotSimd);
HWY_EXPORT(AddScaledSimd);
HWY_EXPORT(AddScaledRowsSimd);

float Dot(const float* a, const float* b, size_t n) { return HWY_DYNAMIC_DISPATCH(DotSimd)(a, b, n); }
void AddScaled(float a, const float* x, size_t n, float* y) { HWY_DYNAMIC_DISPATCH(AddScaledSimd)(a, x, n, y); }
void AddScaledRows(const float* a, const float* x, size_t x_stride, size_t n_rows, size_t n, float* y) {
  HWY_DYNAMIC_DISPATCH(AddScaledRowsSimd)(a, x, x_stride, n_rows, n, y);
}
}  // namespace moe
#endif
