// Scalar conversions and block quantization of tensor/dtype.h against exact expectations.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

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

// Every e4m3fn code against the format's definition written independently of the table:
// (-1)^s · 2^(e-7) · (1 + m/8) for e > 0, (-1)^s · 2^-6 · m/8 for e = 0, NaN for e = 15, m = 7.
TEST(DType, F8E4M3AllCodes) {
  int nans = 0;
  for (int b = 0; b < 256; ++b) {
    const int s = b >> 7, e = (b >> 3) & 15, m = b & 7;
    const float got = F8E4M3ToF32(static_cast<uint8_t>(b));
    if (e == 15 && m == 7) {
      EXPECT_TRUE(std::isnan(got)) << "code 0x" << std::hex << b;
      ++nans;
      continue;
    }
    const double mag = e == 0 ? std::ldexp(m / 8.0, -6) : std::ldexp(1.0 + m / 8.0, e - 7);
    const double want = s ? -mag : mag;
    EXPECT_EQ(static_cast<double>(got), want) << "code 0x" << std::hex << b;
    EXPECT_EQ(std::signbit(got), s == 1) << "code 0x" << std::hex << b;  // -0 for 0x80
  }
  EXPECT_EQ(nans, 2);
  // Landmarks of the format: max 448, min normal 2^-6, min subnormal 2^-9.
  EXPECT_EQ(F8E4M3ToF32(0x7E), 448.0f);
  EXPECT_EQ(F8E4M3ToF32(0x08), std::ldexp(1.0f, -6));
  EXPECT_EQ(F8E4M3ToF32(0x01), std::ldexp(1.0f, -9));
  EXPECT_EQ(F8E4M3ToF32(0xB8), -1.0f);
}

TEST(DType, F8E4M3Encode) {
  for (int b = 0; b < 256; ++b) {
    const float f = F8E4M3ToF32(static_cast<uint8_t>(b));
    if (std::isnan(f)) continue;
    EXPECT_EQ(F32ToF8E4M3(f), b) << "code 0x" << std::hex << b;  // every finite code round-trips
  }
  EXPECT_EQ(F32ToF8E4M3(1e9f), 0x7E);    // saturates at 448
  EXPECT_EQ(F32ToF8E4M3(-1e9f), 0xFE);
  EXPECT_EQ(F32ToF8E4M3(1.0625f), 0x38);  // halfway between 1 and 1.125: ties to even (1)
  EXPECT_EQ(F32ToF8E4M3(1.1875f), 0x3A);  // halfway between 1.125 and 1.25: to 1.25
  EXPECT_TRUE(std::isnan(F8E4M3ToF32(F32ToF8E4M3(NAN))));
  EXPECT_EQ(DTypeName(DType::kF8E4M3), "f8_e4m3");
  EXPECT_EQ(DTypeFromName("f8_e4m3"), DType::kF8E4M3);
  EXPECT_EQ(RowBytes(DType::kF8E4M3, 300), 300u);
  // Not a ggml type: no ggml id maps to it.
  for (uint32_t t = 0; t < 4096; ++t) EXPECT_NE(DTypeFromGgml(t), DType::kF8E4M3);
}

// DequantizeRowF8 applies one scale per 128 columns, including a partial last block.
TEST(DType, F8DequantizeRowScaled) {
  std::vector<uint8_t> q(300);
  for (size_t i = 0; i < q.size(); ++i) q[i] = static_cast<uint8_t>((i * 37) % 256 == 0x7F ? 0 : (i * 37) % 256 & 0xF7);
  const float scales[3] = {0.5f, 3.0f, -0.25f};
  std::vector<float> out(300);
  DequantizeRowF8(q.data(), scales, q.size(), out.data());
  for (size_t i = 0; i < q.size(); ++i)
    EXPECT_EQ(out[i], F8E4M3ToF32(q[i]) * scales[i / 128]) << i;
}


// The nearest e4m3 magnitude by a scan over the 127 finite codes, ties to the even code: the
// definition F32ToF8E4M3's bit arithmetic must reproduce.
uint8_t NearestF8E4M3(float f) {
  if (std::isnan(f)) return 0x7F;
  const uint8_t sign = std::signbit(f) ? 0x80 : 0;
  const float a = std::min(std::fabs(f), 448.0f);
  uint8_t best = 0;
  float best_d = INFINITY;
  for (uint8_t b = 0; b < 0x7F; ++b) {
    const float d = std::fabs(F8E4M3ToF32(b) - a);
    if (d < best_d || (d == best_d && (b & 1) == 0)) {
      best = b;
      best_d = d;
    }
  }
  return sign | best;
}

// Every code's value, both sides of every midpoint between neighbours (where rounding
// flips, ties included), beyond ±448, the special values and random values over the range.
TEST(DType, F8E4M3EncodeIsNearestEven) {
  std::vector<float> xs = {0.0f, -0.0f, 448.0f, 449.0f, 464.0f, 1e9f, -1e9f, INFINITY, -INFINITY, NAN, 1e-30f, -1e-30f};
  for (int b = 0; b < 0x7F; ++b) {
    const float v = F8E4M3ToF32(static_cast<uint8_t>(b));
    xs.push_back(v);
    if (b + 1 < 0x7F) {
      const float mid = (v + F8E4M3ToF32(static_cast<uint8_t>(b + 1))) / 2;  // exact: few bits
      xs.insert(xs.end(), {mid, std::nextafter(mid, 0.0f), std::nextafter(mid, 1e9f)});
    }
  }
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> exponent(-12.0f, 10.0f);
  for (int i = 0; i < 200000; ++i) xs.push_back((i % 2 ? -1.0f : 1.0f) * std::exp2(exponent(rng)));
  size_t bad = 0;
  for (float x : xs)
    for (float s : {x, -x})
      if (F32ToF8E4M3(s) != NearestF8E4M3(s) && ++bad <= 5)
        ADD_FAILURE() << s << ": got " << int(F32ToF8E4M3(s)) << ", nearest " << int(NearestF8E4M3(s));
  EXPECT_EQ(bad, 0u);
}

}  // namespace
}  // namespace moe
