// Scalar conversions and block quantization of tensor/dtype.h against exact expectations.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "tensor/dtype.h"

namespace moe {
namespace {

TEST(DType, Bf16RoundTripAndRounding) {
  EXPECT_EQ(Bf16ToF32(F32ToBf16(1.0f)), 1.0f);
  EXPECT_EQ(Bf16ToF32(F32ToBf16(-2.5f)), -2.5f);
  // 1 + 2^-8 is halfway between bf16 neighbours 1 and 1 + 2^-7: ties to even → 1.
  EXPECT_EQ(Bf16ToF32(F32ToBf16(1.0f + 1.0f / 256)), 1.0f);
  EXPECT_TRUE(std::isnan(Bf16ToF32(F32ToBf16(NAN))));
}

TEST(DType, F16ExhaustiveRoundTrip) {
  for (uint32_t h = 0; h < 65536; ++h) {
    uint16_t x = static_cast<uint16_t>(h);
    float f = F16ToF32(x);
    if (std::isnan(f)) continue;
    EXPECT_EQ(F32ToF16(f), x) << "half 0x" << std::hex << h;
  }
  EXPECT_EQ(F16ToF32(0x3c00), 1.0f);
  EXPECT_EQ(F16ToF32(0x0001), std::ldexp(1.0f, -24));  // smallest subnormal
  EXPECT_EQ(F32ToF16(1e6f), 0x7c00);                    // overflow to inf
}

TEST(DType, Q8_0QuantizeDequantize) {
  std::mt19937 g(1);
  std::normal_distribution<float> d(0, 1);
  std::vector<float> x(64), y(64);
  for (auto& v : x) v = d(g);
  std::vector<uint8_t> q(RowBytes(DType::kQ8_0, 64));
  QuantizeRow(DType::kQ8_0, x.data(), 64, q.data());
  DequantizeRow(DType::kQ8_0, q.data(), 64, y.data());
  for (int b = 0; b < 2; ++b) {
    float amax = 0;
    for (int i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(x[b * 32 + i]));
    // Error is at most half a step d = amax/127 (plus the fp16 rounding of d).
    for (int i = 0; i < 32; ++i) EXPECT_NEAR(y[b * 32 + i], x[b * 32 + i], amax / 127 * 0.51 + 1e-3 * amax);
  }
  EXPECT_EQ(RowBytes(DType::kQ8_0, 64), 68u);
}

}  // namespace
}  // namespace moe
