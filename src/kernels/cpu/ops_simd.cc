// The vector ops on attention's inner loops (softmax, and its exponentials for chunked
// attention), residual adds and the MoE's SiLU gate, for every Highway target, dispatched at
// run time: the rest of ops.cc is compiled for the baseline ISA. Exponentials use Highway's
// vector Exp (about 1 ulp), so every element takes the same arithmetic whatever its position:
// partial vectors go through a padded copy, not a scalar loop.
#include "kernels/cpu/ops.h"

#include <algorithm>
#include <limits>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/cpu/ops_simd.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "hwy/contrib/math/math-inl.h"
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

void MixScaledSimd(float a, float* y, float b, const float* x, size_t n) {
  const hn::ScalableTag<float> d;
  const size_t N = hn::Lanes(d);
  const auto va = hn::Set(d, a), vb = hn::Set(d, b);
  size_t i = 0;
  for (; i + N <= n; i += N)
    hn::StoreU(hn::Add(hn::Mul(hn::LoadU(d, y + i), va), hn::Mul(hn::LoadU(d, x + i), vb)), d, y + i);
  for (; i < n; ++i) y[i] = y[i] * a + x[i] * b;
}

// silu(g) · u = g / (1 + e^-g) · u on one vector. e^-g is taken at min(-g, 88) (Exp is
// valid up to 104 and e^88 is still finite): for g < -88 the result is g · u / 1.6e38 ≈ 0,
// as silu(g) is.
template <class D, class V>
HWY_INLINE V SiluMulVec(D d, V g, V u) {
  const V e = hn::Exp(d, hn::Min(hn::Neg(g), hn::Set(d, 88.0f)));
  return hn::Mul(hn::Div(g, hn::Add(hn::Set(d, 1.0f), e)), u);
}

void SiluMulSimd(const float* gate, const float* up, size_t n, float* out) {
  const hn::ScalableTag<float> d;
  const size_t N = hn::Lanes(d);
  size_t i = 0;
  for (; i + N <= n; i += N) hn::StoreU(SiluMulVec(d, hn::LoadU(d, gate + i), hn::LoadU(d, up + i)), d, out + i);
  if (i < n) {  // the last partial vector, through a padded copy
    HWY_ALIGN float g[hn::MaxLanes(d)] = {}, u[hn::MaxLanes(d)] = {};
    std::copy(gate + i, gate + n, g);
    std::copy(up + i, up + n, u);
    hn::Store(SiluMulVec(d, hn::Load(d, g), hn::Load(d, u)), d, g);
    std::copy(g, g + (n - i), out + i);
  }
}

// e^(x - m), with exponents below -87 (e^-87 is the smallest normal float's order) giving
// exactly 0, so -inf logits stay impossible.
template <class D, class V>
HWY_INLINE V ExpShifted(D d, V x, V m) {
  const V t = hn::Sub(x, m), lo = hn::Set(d, -87.0f);
  return hn::IfThenElseZero(hn::Ge(t, lo), hn::Exp(d, hn::Max(t, lo)));
}

// x[i] = e^(x[i] - max x) in place; returns Σ and writes the max to *max_out. Softmax is
// this divided by the sum; chunked attention keeps the pair to merge chunks.
float ExpShiftSimd(float* x, size_t n, float* max_out) {
  const hn::ScalableTag<float> d;
  const size_t N = hn::Lanes(d);
  const size_t full = n / N * N;
  HWY_ALIGN float tail[hn::MaxLanes(d)];
  const float lowest = -std::numeric_limits<float>::infinity();
  for (size_t k = 0; k < N; ++k) tail[k] = full + k < n ? x[full + k] : lowest;
  auto vmax = hn::Load(d, tail);
  for (size_t i = 0; i < full; i += N) vmax = hn::Max(vmax, hn::LoadU(d, x + i));
  const float mx = hn::GetLane(hn::MaxOfLanes(d, vmax));
  const auto m = hn::Set(d, mx);
  auto sum = hn::Zero(d);
  for (size_t i = 0; i < full; i += N) {
    const auto e = ExpShifted(d, hn::LoadU(d, x + i), m);
    hn::StoreU(e, d, x + i);
    sum = hn::Add(sum, e);
  }
  const auto et = ExpShifted(d, hn::Load(d, tail), m);  // padding lanes are -inf: 0
  hn::Store(et, d, tail);
  std::copy(tail, tail + (n - full), x + full);
  *max_out = mx;
  return hn::GetLane(hn::SumOfLanes(d, hn::Add(sum, et)));
}

void SoftmaxSimd(float* x, size_t n) {
  if (n == 0) return;
  float mx;
  const float sum = ExpShiftSimd(x, n, &mx);
  const hn::ScalableTag<float> d;
  const size_t N = hn::Lanes(d);
  const float inv = 1.0f / sum;
  size_t i = 0;
  for (; i + N <= n; i += N) hn::StoreU(hn::Mul(hn::LoadU(d, x + i), hn::Set(d, inv)), d, x + i);
  for (; i < n; ++i) x[i] *= inv;
}

}  // namespace HWY_NAMESPACE
}  // namespace moe
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace moe {
HWY_EXPORT(DotSimd);
HWY_EXPORT(AddScaledSimd);
HWY_EXPORT(MixScaledSimd);
HWY_EXPORT(SiluMulSimd);
HWY_EXPORT(SoftmaxSimd);
HWY_EXPORT(ExpShiftSimd);

void SiluMul(const float* gate, const float* up, size_t n, float* out) {
  HWY_DYNAMIC_DISPATCH(SiluMulSimd)(gate, up, n, out);
}
void SoftmaxInPlace(float* x, size_t n) { HWY_DYNAMIC_DISPATCH(SoftmaxSimd)(x, n); }
float ExpShiftInPlace(float* x, size_t n, float* max_out) {
  *max_out = -std::numeric_limits<float>::infinity();
  return n == 0 ? 0.0f : HWY_DYNAMIC_DISPATCH(ExpShiftSimd)(x, n, max_out);
}

float Dot(const float* a, const float* b, size_t n) { return HWY_DYNAMIC_DISPATCH(DotSimd)(a, b, n); }
void AddScaled(float a, const float* x, size_t n, float* y) { HWY_DYNAMIC_DISPATCH(AddScaledSimd)(a, x, n, y); }
void MixScaled(float a, float* y, float b, const float* x, size_t n) {
  HWY_DYNAMIC_DISPATCH(MixScaledSimd)(a, y, b, x, n);
}
}  // namespace moe
#endif
