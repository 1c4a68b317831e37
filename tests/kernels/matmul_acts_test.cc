// Fast path of matmul.h (Q8_0 x Q8_0 activations, BF16 x bf16 activations): the AVX-512
// intrinsics and the portable Highway path (on every compiled target) against the scalar
// reference ref::MatMulRowsQuantizedActs, and the whole fast product against the exact one.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "hwy/tests/hwy_gtest.h"
#include "kernels/cpu/matmul.h"
#include "matmul_test_util.h"

namespace moe {
namespace {

constexpr DType kFastDTypes[] = {DType::kQ8_0, DType::kBF16, DType::kF8E4M3};

std::string Where(DotImpl impl, DType dt, size_t rows, size_t cols, size_t tokens) {
  return std::string(impl == DotImpl::kAvx512 ? "avx512 " : "portable ") +
         std::string(DTypeName(dt)) + " rows=" + std::to_string(rows) +
         " cols=" + std::to_string(cols) + " tokens=" + std::to_string(tokens);
}

// Integer data whose rounding to Q8_0 / bf16 is exact: |v| <= 8, and for Q8_0 one ±127 per
// 32-block so that every block scale is exactly 1. Then all block sums and float partial sums
// are integers below 2^24 and every implementation must agree bit for bit.
std::vector<float> ExactIntegers(DType dt, size_t n, uint32_t seed) {
  std::vector<float> v = test::RandomIntegers(n, seed, -8, 8);
  if (dt == DType::kQ8_0)
    for (size_t i = 0; i < n; i += kQ8_0Block) v[i] = (i / kQ8_0Block) % 3 ? 127 : -127;
  return v;
}

// The fp16 kernel's extra error over the float reference. The activations times the block
// scales are rounded to fp16 once more, then each lane adds 16 products in fp16 and two lanes
// are added, so every product takes part in at most 18 fp16 roundings of 2^-11 relative
// each. Near zero a rounding errs by up to half an fp16 subnormal step, 2^-25 in the scaled
// domain, where the block row's max |x · s| is 2^9 or more: at most 3 · cols such roundings
// (x', FMAs, adds; the x' ones times |decoded weight| <= 1.75), each 2^-26 · m in real terms,
// m being max |x · s| over the row's block row.
double F16SumBound(double m, size_t cols, double sum_abs) {
  return 18 * 0x1p-11 * sum_abs + 3.0 * cols * 0x1p-26 * m;
}

// The AVX512_BF16 FP8 kernel's extra error over the float reference: x = hi + lo + e with
// |e| <= 2^-16 |x| (two bf16 roundings; vdpbf16ps would flush a lo under 2^-126, which
// these tests' activations, 0 or above 2^-30, never have), and 2 · cols products summed
// where the reference sums cols.
double Bf16PairBound(size_t cols, double sum_abs) { return 0x1p-16 * sum_abs + test::ErrorBound(cols, sum_abs); }

// m of F16SumBound for weight row r and activations x.
double ScaledMax(const test::OwnedWeights& ow, size_t r, const float* x) {
  const float* s = ow.w.RowScales(r);
  double m = 0;
  for (size_t c = 0; c < ow.w.cols; ++c) m = std::max(m, std::fabs(double(x[c]) * s[c / kF8Block]));
  return m;
}

// Rows [rb, re) of the fast product against the reference; rows outside keep a sentinel.
void CheckCase(DotImpl impl, DType dt, size_t rows, size_t cols, size_t tokens, size_t rb,
               size_t re, bool integers) {
  const uint32_t seed = static_cast<uint32_t>(rows * 977 + cols * 13 + tokens);
  const std::vector<float> wv =
      integers ? ExactIntegers(dt, rows * cols, seed) : test::RandomValues(rows * cols, seed);
  const test::OwnedWeights ow = test::MakeWeights(dt, rows, cols, wv, 34, /*pow2_scales=*/integers);
  const std::vector<float> x = integers ? ExactIntegers(dt, tokens * cols, seed + 1)
                                        : test::RandomValues(tokens * cols, seed + 1, -3, 3);
  const DType ad = ActsDType(dt);
  std::vector<uint8_t> xq_bytes(tokens * ActsRowBytes(ad, cols));
  const QuantizedActs xq = QuantizeActivations(ad, x.data(), cols, tokens, cols, xq_bytes.data());

  const size_t y_stride = rows + 3;
  constexpr float kSentinel = -12345.0f;
  std::vector<float> y(tokens * y_stride, kSentinel), y_ref(tokens * y_stride, kSentinel);
  MatMulRowsQuantizedActs(ow.w, xq, y.data(), y_stride, rb, re, impl);
  ref::MatMulRowsQuantizedActs(ow.w, xq, y_ref.data(), y_stride, rb, re);

  std::vector<float> wrow(cols), xrow(cols);
  for (size_t t = 0; t < tokens; ++t) {
    DequantizeActs(xq, t, xrow.data());
    for (size_t r = 0; r < rows; ++r) {
      const float got = y[t * y_stride + r], want = y_ref[t * y_stride + r];
      const std::string where = Where(impl, dt, rows, cols, tokens);
      if (r < rb || r >= re) {
        ASSERT_EQ(got, kSentinel) << where << " wrote outside rows";
        continue;
      }
      if (integers) {
        ASSERT_EQ(got, want) << where << " r=" << r << " t=" << t;
        continue;
      }
      DequantizeWeightRow(ow.w, r, wrow.data());
      double sum_abs = 0;
      for (size_t c = 0; c < cols; ++c) sum_abs += std::fabs(double(wrow[c]) * xrow[c]);
      double bound = test::ErrorBound(cols, sum_abs);
      if (ad == DType::kF16) bound += F16SumBound(ScaledMax(ow, r, xrow.data()), cols, sum_abs);
      if (ad == DType::kF32 && impl == DotImpl::kAvx512) bound += Bf16PairBound(cols, sum_abs);
      ASSERT_NEAR(got, want, bound) << where << " r=" << r << " t=" << t;
    }
  }
}

void CheckAllShapes(DotImpl impl) {
  // FP8 needs AVX512_FP16 or AVX512_VBMI beyond HasAvx512Dot() (UsesQuantizedActs).
  const bool fp8 = impl != DotImpl::kAvx512 || UsesQuantizedActs(DType::kF8E4M3);
  for (DType dt : kFastDTypes) {
    if (dt == DType::kF8E4M3 && !fp8) continue;
    for (size_t cols : {32, 64, 96, 4096 + 32})
      for (size_t rows : {1, 3, 17})
        for (size_t tokens : {1, 2, 5, 9}) {
          CheckCase(impl, dt, rows, cols, tokens, 0, rows, false);
          CheckCase(impl, dt, rows, cols, tokens, 0, rows, true);
        }
    for (size_t tokens : {1, 6}) {
      CheckCase(impl, dt, 17, 96, tokens, 3, 14, false);
      CheckCase(impl, dt, 17, 96, tokens, 16, 17, false);
      CheckCase(impl, dt, 17, 96, tokens, 5, 5, false);
    }
    CheckCase(impl, dt, 9, 4096 + 32, 300, 0, 9, true);  // several token passes
  }
  for (size_t cols : {1, 7, 31, 33, 100})  // bf16 rows of any length (masked tail)
    for (size_t tokens : {1, 5}) CheckCase(impl, DType::kBF16, 6, cols, tokens, 0, 6, false);
  // BF16 packed GEMM (16-row tiles, 4 or more tokens): partial 32-column blocks, rows left
  // to the row tiles, tiles of 8 tokens and a remainder.
  for (size_t cols : {34, 100, 130})
    for (size_t tokens : {4, 11}) CheckCase(impl, DType::kBF16, 35, cols, tokens, 0, 35, false);
  CheckCase(impl, DType::kBF16, 40, 64, 20, 3, 37, true);
  // FP8: partial 128-blocks, several block rows, tails inside a 32-lane vector.
  if (!fp8) return;
  for (size_t cols : {1, 33, 100, 130, 300})
    for (size_t rows : {5, 130, 260})
      for (size_t tokens : {1, 2, 3}) CheckCase(impl, DType::kF8E4M3, rows, cols, tokens, 0, rows, false);
  CheckCase(impl, DType::kF8E4M3, 260, 300, 3, 37, 201, false);
}

TEST(MatMulActsTest, Avx512MatchesReference) {
  if (!HasAvx512Dot()) GTEST_SKIP() << "CPU lacks AVX512_VNNI/AVX512_BF16";
  CheckAllShapes(DotImpl::kAvx512);
}

TEST(MatMulActsTest, Fp8FastPathOverBlockScalesOfManyMagnitudes) {
  // The fp16 path scales the activations by each block row's column-block scales: block
  // rows whose weights (hence scales) are all near 2^-25 or all near 2^15 must neither lose
  // their products to fp16's range nor overflow the fp16 sums. 3 block rows, 9 column blocks
  // (the last partial), 3 chunks of fp16 sums; 1 and 3 tokens take the decode and 3-token
  // tiles.
  if (!HasAvx512Fp16()) GTEST_SKIP() << "CPU lacks AVX512_FP16";
  const size_t rows = 300, cols = 1100;
  constexpr int kRowExp[] = {-25, -5, 13};  // per block row: all small, middling, all large
  std::vector<float> wv = test::RandomValues(rows * cols, 21);
  for (size_t r = 0; r < rows; ++r)
    for (size_t c = 0; c < cols; ++c)
      wv[r * cols + c] *= std::ldexp(1.0f, kRowExp[r / kF8Block] + static_cast<int>(c / kF8Block % 3));
  const test::OwnedWeights ow = test::MakeWeights(DType::kF8E4M3, rows, cols, wv, 0);
  for (size_t tokens : {1, 3}) {
    std::vector<float> x = test::RandomValues(tokens * cols, 22, -3, 3);
    for (size_t i = 0; i < x.size(); ++i) x[i] *= std::ldexp(1.0f, static_cast<int>(i % cols / kF8Block * 3 % 11) - 5);
    std::vector<uint8_t> xq_bytes(tokens * ActsRowBytes(DType::kF16, cols));
    const QuantizedActs xq = QuantizeActivations(DType::kF16, x.data(), cols, tokens, cols, xq_bytes.data());
    std::vector<float> y(tokens * rows), y_ref(tokens * rows), wrow(cols), xrow(cols);
    MatMulRowsQuantizedActs(ow.w, xq, y.data(), rows, 0, rows, DotImpl::kAvx512);
    ref::MatMulRowsQuantizedActs(ow.w, xq, y_ref.data(), rows, 0, rows);
    for (size_t t = 0; t < tokens; ++t) {
      DequantizeActs(xq, t, xrow.data());
      for (size_t r = 0; r < rows; ++r) {
        DequantizeWeightRow(ow.w, r, wrow.data());
        double sum_abs = 0;
        for (size_t c = 0; c < cols; ++c) sum_abs += std::fabs(double(wrow[c]) * xrow[c]);
        const double bound = test::ErrorBound(cols, sum_abs) + F16SumBound(ScaledMax(ow, r, xrow.data()), cols, sum_abs);
        ASSERT_TRUE(std::isfinite(y[t * rows + r])) << "r=" << r << " t=" << t;
        ASSERT_NEAR(y[t * rows + r], y_ref[t * rows + r], bound) << "r=" << r << " t=" << t;
      }
    }
  }
}

// Every e4m3 code through the AVX512_BF16 FP8 kernel (CPUs without AVX512_FP16): row r holds
// the 256 codes rotated by 17r (NaN codes replaced by 1.0), in two full 128-column blocks and
// a partial one (300 columns), so full and masked blocks both meet exponent-0 codes (zero,
// -0, subnormals: the table decode) next to normal ones; scales 0.75, -3 and 5 (not powers
// of two). One-hot activations pick single weights, so every product is exact and y must
// equal float32(e4m3 value · scale). Then a NaN code must make its row NaN and only its row.
TEST(MatMulActsTest, Fp8Bf16KernelDecodesEveryCode) {
  if (!UsesQuantizedActs(DType::kF8E4M3) || ActsDType(DType::kF8E4M3) != DType::kF32)
    GTEST_SKIP() << "FP8 takes the AVX512_FP16 kernel here, or the CPU lacks AVX512_BF16 or AVX512_VBMI";
  const size_t rows = 8, cols = 300;
  const float scales[3] = {0.75f, -3.0f, 5.0f};
  std::vector<uint8_t> bytes(rows * cols);
  for (size_t r = 0; r < rows; ++r)
    for (size_t c = 0; c < cols; ++c) {
      const auto code = static_cast<uint8_t>(c + r * 17);
      bytes[r * cols + c] = (code & 0x7F) == 0x7F ? 0x38 : code;
    }
  std::vector<float> x(cols), y(rows);
  std::vector<uint8_t> xq_bytes(ActsRowBytes(DType::kF32, cols));
  auto product = [&](const uint8_t* w_bytes) {
    const WeightMatrix w{DType::kF8E4M3, w_bytes, rows, cols, cols, scales, 3, 0};
    const QuantizedActs xq = QuantizeActivations(DType::kF32, x.data(), cols, 1, cols, xq_bytes.data());
    MatMulRowsQuantizedActs(w, xq, y.data(), rows, 0, rows, DotImpl::kAvx512);
  };
  for (size_t c = 0; c < cols; ++c) {
    std::fill(x.begin(), x.end(), 0.0f);
    x[c] = 1.0f;
    product(bytes.data());
    for (size_t r = 0; r < rows; ++r) {
      const uint8_t code = bytes[r * cols + c];
      ASSERT_EQ(y[r], F8E4M3ToF32(code) * scales[c / kF8Block]) << "code " << int(code) << " column " << c;
    }
  }
  std::fill(x.begin(), x.end(), 1.0f);
  for (uint8_t nan_code : {0x7F, 0xFF})
    for (size_t c : {0, 77, 200, 299}) {
      std::vector<uint8_t> one(rows * cols, 0x38);  // 1.0
      one[5 * cols + c] = nan_code;
      product(one.data());
      for (size_t r = 0; r < rows; ++r)
        ASSERT_EQ(std::isnan(y[r]), r == 5) << "code " << int(nan_code) << " at column " << c << ", row " << r;
    }
}

// The same kernel's shift decode (one token, 64-code groups with no zero, subnormal, NaN or
// code 0x08..0x0E in any row of the 4-row tile): rows of the 224 codes it takes, rotated by
// 17r, then the same rows with the largest subnormal put in (row 2, column 70), which sends
// that group of rows 0..3 back to the tables while the other groups keep the shifts. One-hot
// activations: y must equal float32(e4m3 value · scale) for every code and column.
TEST(MatMulActsTest, Fp8Bf16KernelShiftDecodeIsExact) {
  if (!UsesQuantizedActs(DType::kF8E4M3) || ActsDType(DType::kF8E4M3) != DType::kF32)
    GTEST_SKIP() << "FP8 takes the AVX512_FP16 kernel here, or the CPU lacks AVX512_BF16 or AVX512_VBMI";
  std::vector<uint8_t> normal;  // exponent field 2..15 or (1, mantissa 7), not NaN
  for (unsigned code = 0; code < 256; ++code)
    if ((code & 0x7F) >= 0x0F && (code & 0x7F) != 0x7F) normal.push_back(static_cast<uint8_t>(code));
  ASSERT_EQ(normal.size(), 224u);
  const size_t rows = 8, cols = 300;
  const float scales[3] = {0.75f, -3.0f, 5.0f};
  std::vector<uint8_t> bytes(rows * cols);
  for (size_t r = 0; r < rows; ++r)
    for (size_t c = 0; c < cols; ++c) bytes[r * cols + c] = normal[(c + r * 17) % normal.size()];
  std::vector<float> x(cols), y(rows);
  std::vector<uint8_t> xq_bytes(ActsRowBytes(DType::kF32, cols));
  for (bool with_subnormal : {false, true}) {
    if (with_subnormal) bytes[2 * cols + 70] = 0x87;  // -7 · 2^-9, the largest subnormal
    const WeightMatrix w{DType::kF8E4M3, bytes.data(), rows, cols, cols, scales, 3, 0};
    for (size_t c = 0; c < cols; ++c) {
      std::fill(x.begin(), x.end(), 0.0f);
      x[c] = 1.0f;
      const QuantizedActs xq = QuantizeActivations(DType::kF32, x.data(), cols, 1, cols, xq_bytes.data());
      MatMulRowsQuantizedActs(w, xq, y.data(), rows, 0, rows, DotImpl::kAvx512);
      for (size_t r = 0; r < rows; ++r) {
        const uint8_t code = bytes[r * cols + c];
        ASSERT_EQ(y[r], F8E4M3ToF32(code) * scales[c / kF8Block])
            << "code " << int(code) << " column " << c << (with_subnormal ? " (with a subnormal)" : "");
      }
    }
  }
}

// The fast path's outputs for a token must not depend on the other tokens of the call
// (continuous batching relies on it): every token count from 1 to 13 against the 13-token
// product, bit for bit, with rows that fill 16-row tiles and a remainder.
TEST(MatMulActsTest, TokenResultsDoNotDependOnTheBatch) {
  for (DType dt : kFastDTypes) {
    if (!UsesQuantizedActs(dt)) continue;  // the exact path (matmul_test.cc checks it)
    for (size_t cols : {96, 300, 1024}) {
      if (cols % BlockSize(dt) != 0) continue;
      const size_t rows = 37, max_tokens = 13;
      const test::OwnedWeights ow = test::MakeWeights(dt, rows, cols, test::RandomValues(rows * cols, 9), 0);
      const std::vector<float> x = test::RandomValues(max_tokens * cols, 10);
      const DType ad = ActsDType(dt);
      std::vector<uint8_t> bytes(max_tokens * ActsRowBytes(ad, cols));
      const QuantizedActs all_q = QuantizeActivations(ad, x.data(), cols, max_tokens, cols, bytes.data());
      std::vector<float> all(max_tokens * rows);
      MatMulRowsQuantizedActs(ow.w, all_q, all.data(), rows, 0, rows);
      for (size_t n = 1; n < max_tokens; ++n)
        for (size_t t0 : {size_t{0}, max_tokens - n}) {
          const QuantizedActs xq{ad, static_cast<const char*>(all_q.data) + t0 * all_q.row_stride, n, cols,
                                 all_q.row_stride};
          std::vector<float> y(n * rows);
          MatMulRowsQuantizedActs(ow.w, xq, y.data(), rows, 0, rows);
          for (size_t t = 0; t < n; ++t)
            for (size_t r = 0; r < rows; ++r)
              ASSERT_EQ(y[t * rows + r], all[(t0 + t) * rows + r])
                  << DTypeName(dt) << " cols " << cols << ", " << n << " tokens: token " << t0 + t << " row " << r;
        }
    }
  }
}

class MatMulActsPortableTest : public hwy::TestWithParamTarget {};
HWY_TARGET_INSTANTIATE_TEST_SUITE_P(MatMulActsPortableTest);

TEST_P(MatMulActsPortableTest, MatchesReference) { CheckAllShapes(DotImpl::kPortable); }

TEST_P(MatMulActsPortableTest, QuantizeQ8_0EqualsScalarQuantizeRow) {
  // The Highway quantizer must match QuantizeRow bit for bit: random rows, an all-zero block,
  // and a block with max 127 (scale 1) whose other values are exact halves ±0.5, ±1.5, ...,
  // where lround rounds away from zero and round-to-even would not.
  const size_t cols = 4096 + 32, tokens = 3, x_stride = cols + 5;
  std::vector<float> x = test::RandomValues(tokens * x_stride, 21, -5, 5);
  for (size_t i = 0; i < kQ8_0Block; ++i) x[i] = 0;
  x[kQ8_0Block] = 127;
  for (size_t i = 1; i < kQ8_0Block; ++i) x[kQ8_0Block + i] = (i % 2 ? -1.0f : 1.0f) * (i / 2 + 0.5f);
  std::vector<BlockQ8_0> got(tokens * cols / kQ8_0Block), want(got.size());
  QuantizeActivationsQ8_0(x.data(), x_stride, tokens, cols, got.data());
  for (size_t t = 0; t < tokens; ++t)
    QuantizeRow(DType::kQ8_0, x.data() + t * x_stride, cols, want.data() + t * cols / kQ8_0Block);
  for (size_t b = 0; b < got.size(); ++b) {
    ASSERT_EQ(got[b].d, want[b].d) << "block " << b;
    for (size_t i = 0; i < kQ8_0Block; ++i) ASSERT_EQ(got[b].qs[i], want[b].qs[i]) << "block " << b << " i " << i;
  }
  EXPECT_EQ(got[1].qs[1], -1);  // -0.5 -> -1 (to even: 0)
  EXPECT_EQ(got[1].qs[4], 3);   // 2.5 -> 3 (to even: 2)
  EXPECT_EQ(got[1].qs[5], -3);  // -2.5 -> -3
}

TEST_P(MatMulActsPortableTest, QuantizeQ8_0ScalesOfEveryMagnitudeEqualScalarQuantizeRow) {
  // The block scales d = max|x| / 127 are rounded to fp16 in vectors: blocks whose d is an
  // fp16 subnormal, normal, or past fp16's range (infinity), 33 blocks a row (not a multiple
  // of the 16 blocks rounded at once), d at fp16 ties, and values just under and at a half
  // after scaling (scale 1: max 127), where rounding up by adding 1/2 would be off by one.
  const size_t cols = 33 * kQ8_0Block, tokens = 2;
  std::vector<float> x = test::RandomValues(tokens * cols, 22, -1, 1);
  for (size_t b = 0; b < tokens * cols / kQ8_0Block; ++b) {
    const float m = std::ldexp(1.0f, static_cast<int>(b % 33) - 24) * (1.0f + static_cast<float>(b % 7) / 7);
    for (size_t i = 0; i < kQ8_0Block; ++i) x[b * kQ8_0Block + i] *= m;
  }
  float* edge = x.data() + 5 * kQ8_0Block;
  edge[0] = 127;
  edge[1] = std::nextafter(0.5f, 0.0f);
  edge[2] = -std::nextafter(0.5f, 0.0f);
  edge[3] = 0.5f;
  edge[4] = std::nextafter(1.5f, 0.0f);
  edge[5] = std::nextafter(2.5f, 3.0f);
  // d exactly halfway between two fp16 values: ties to even, down (1 + 2^-11 -> 1) and up
  // (1 + 3 · 2^-11 -> 1 + 2^-9).
  for (size_t i = 0; i < kQ8_0Block; ++i) x[6 * kQ8_0Block + i] = x[7 * kQ8_0Block + i] = 0.5f;
  x[6 * kQ8_0Block] = 127 * (1 + std::ldexp(1.0f, -11));
  x[7 * kQ8_0Block] = 127 * (1 + 3 * std::ldexp(1.0f, -11));
  std::vector<BlockQ8_0> got(tokens * cols / kQ8_0Block), want(got.size());
  QuantizeActivationsQ8_0(x.data(), cols, tokens, cols, got.data());
  for (size_t t = 0; t < tokens; ++t)
    QuantizeRow(DType::kQ8_0, x.data() + t * cols, cols, want.data() + t * cols / kQ8_0Block);
  bool subnormal = false, infinite = false;
  for (size_t b = 0; b < got.size(); ++b) {
    ASSERT_EQ(got[b].d, want[b].d) << "block " << b;
    subnormal |= want[b].d != 0 && (want[b].d & 0x7c00) == 0;
    infinite |= (want[b].d & 0x7fff) == 0x7c00;
    for (size_t i = 0; i < kQ8_0Block; ++i) ASSERT_EQ(got[b].qs[i], want[b].qs[i]) << "block " << b << " i " << i;
  }
  EXPECT_TRUE(subnormal);
  EXPECT_FALSE(infinite);  // max|x| < 2^9 here; the next test covers overflow
  EXPECT_EQ(got[5].qs[1], 0);
  EXPECT_EQ(got[5].qs[2], 0);
  EXPECT_EQ(got[5].qs[3], 1);
  EXPECT_EQ(got[5].qs[4], 1);
  EXPECT_EQ(got[5].qs[5], 3);
  EXPECT_EQ(got[6].d, 0x3c00);
  EXPECT_EQ(got[7].d, 0x3c02);
}

TEST_P(MatMulActsPortableTest, QuantizeQ8_0HugeBlocksEqualScalarQuantizeRow) {
  // d past fp16's largest value (infinity), exactly at the rounding boundary to it, and at
  // fp16's largest: the scales' bits match QuantizeRow's. (Non-finite activations are left
  // out: lround of NaN has no defined value to match.)
  const size_t cols = 3 * kQ8_0Block;
  std::vector<float> x = test::RandomValues(cols, 23, -1, 1);
  x[0] = 1e7f;                         // d = 78740: fp16 infinity
  x[kQ8_0Block] = 65520.0f * 127;      // d = 65520: the halfway point, rounds to infinity
  x[2 * kQ8_0Block] = 65504.0f * 127;  // d = 65504: fp16's largest
  std::vector<BlockQ8_0> got(cols / kQ8_0Block), want(got.size());
  QuantizeActivationsQ8_0(x.data(), cols, 1, cols, got.data());
  QuantizeRow(DType::kQ8_0, x.data(), cols, want.data());
  for (size_t b = 0; b < got.size(); ++b) {
    EXPECT_EQ(got[b].d, want[b].d) << "block " << b;
    for (size_t i = 0; i < kQ8_0Block; ++i) EXPECT_EQ(got[b].qs[i], want[b].qs[i]) << "block " << b << " i " << i;
  }
  EXPECT_EQ(got[0].d, 0x7c00);
  EXPECT_EQ(got[1].d, 0x7c00);
  EXPECT_EQ(got[2].d, 0x7bff);
}

TEST_P(MatMulActsPortableTest, ColumnPiecesEqualWholeRows) {
  // Rounding columns piece by piece, in any order, into rows laid out for all the columns
  // gives the bytes of rounding the whole rows (the MoE feed-forward rounds each work item's
  // columns this way); bytes outside a piece stay as they were.
  const size_t cols = 7 * 64 + 32, tokens = 3, x_stride = cols + 3;
  const std::vector<float> x = test::RandomValues(tokens * x_stride, 25, -4, 4);
  for (DType ad : {DType::kQ8_0, DType::kBF16, DType::kF32}) {
    SCOPED_TRACE(std::string(DTypeName(ad)));
    ASSERT_TRUE(RoundsColumnsApart(ad));
    const size_t row_bytes = ActsRowBytes(ad, cols);
    std::vector<uint8_t> want(tokens * row_bytes), got(tokens * row_bytes, 0xAB);
    QuantizeActivations(ad, x.data(), x_stride, tokens, cols, want.data());
    const size_t cuts[][2] = {{256, 480}, {0, 64}, {128, 256}, {64, 128}};
    for (size_t i = 0; i < std::size(cuts); ++i) {
      QuantizeActivationColumns(ad, x.data(), x_stride, tokens, cols, cuts[i][0], cuts[i][1], got.data());
      if (i == 0) {
        EXPECT_EQ(got[0], 0xAB) << "bytes of column 0 written by the piece [256, 480)";
      }
    }
    EXPECT_EQ(got, want);
  }
  EXPECT_FALSE(RoundsColumnsApart(DType::kF16));
}

TEST(MatMulActsTest, GroupScoresMatchTheExactProduct) {
  // GroupScores against double sums of the same bf16 values: 1 to 9 queries (sets of 4 with
  // padding, one or two sets per step), 1 to 13 keys (a partial last step of 4), key rows
  // strided as a cache's KV head, columns from 8 to 136. Each query's scores must also equal
  // those computed for it alone (a score depends only on its query and key).
  const size_t stride = 3 * 136;
  for (size_t cols : {8, 12, 16, 40, 128, 136})  // 12: not a multiple of 8, the exact path
    for (size_t n_q : {1, 3, 4, 5, 8, 9})
      for (size_t rows : {1, 4, 6, 13}) {
        SCOPED_TRACE("cols " + std::to_string(cols) + " queries " + std::to_string(n_q) + " keys " + std::to_string(rows));
        const std::vector<float> kf = test::RandomValues(rows * stride, 31, -2, 2), qf = test::RandomValues(n_q * cols, 32, -2, 2);
        std::vector<uint16_t> kb(rows * stride), qb(n_q * cols);
        QuantizeActivations(DType::kBF16, kf.data(), stride, rows, stride, kb.data());
        QuantizeActivations(DType::kBF16, qf.data(), cols, n_q, cols, qb.data());
        const WeightMatrix keys{DType::kBF16, kb.data() + 136, rows, cols, stride * 2};  // a slice at column 136
        const size_t y_stride = rows + 2;
        std::vector<float> y(n_q * y_stride, -1.0f);
        GroupScores(keys, {DType::kBF16, qb.data(), n_q, cols, cols * 2}, y.data(), y_stride);
        for (size_t t = 0; t < n_q; ++t) {
          std::vector<float> alone(rows);
          GroupScores(keys, {DType::kBF16, qb.data() + t * cols, 1, cols, cols * 2}, alone.data(), rows);
          for (size_t r = 0; r < rows; ++r) {
            double want = 0, mag = 0;
            for (size_t c = 0; c < cols; ++c) {
              const double a = Bf16ToF32(qb[t * cols + c]) * static_cast<double>(Bf16ToF32(kb[r * stride + 136 + c]));
              want += a;
              mag += std::fabs(a);
            }
            ASSERT_NEAR(y[t * y_stride + r], want, 1e-6 * mag + 1e-30) << "query " << t << " key " << r;
            ASSERT_EQ(y[t * y_stride + r], alone[r]) << "query " << t << " key " << r;
          }
          EXPECT_EQ(y[t * y_stride + rows], -1.0f) << "written past the last key";
        }
      }
}

// MatMulTransposedQuantizedActs on FP8 (the block scales applied once per 128-row block;
// MLA's W_UK on FP8 kv_b), on every target where FP8 has a fast path: against the exact
// product within both paths' float rounding (the reference rounds each v · s once, the fast
// path each block's sum once more); each token equals itself alone, bit for bit. Rows start
// mid block (a kv_b head slice from row 130) and span up to three blocks; columns short of a
// vector; zero, -0 and subnormal codes (the fp16 decode) in some rows; a NaN code makes its
// column NaN (as in the exact path, the columns of its tile, within its column block).
TEST_P(MatMulActsPortableTest, TransposedFp8MatchesTheExactProduct) {
  if (!UsesQuantizedActs(DType::kF8E4M3)) GTEST_SKIP() << "FP8 has no fast path on this CPU";
  for (size_t rows : {1, 5, 126, 127, 300})
    for (size_t cols : {7, 16, 100, 512})
      for (bool specials : {false, true}) {
        const size_t tokens = 7, x_stride = rows + 3, y_stride = cols + 5;
        const uint32_t seed = static_cast<uint32_t>(rows * 31 + cols + specials);
        test::OwnedWeights whole =
            test::MakeWeights(DType::kF8E4M3, rows + 130, cols, test::RandomValues((rows + 130) * cols, seed), 3);
        const WeightMatrix w = whole.w.RowSlice(130, rows);
        uint8_t* bytes = whole.bytes.data() + 130 * w.row_stride;  // w's rows
        if (specials)
          for (size_t r = 0; r < rows; r += 2)
            for (size_t c = r % 5; c < cols; c += 9) bytes[r * w.row_stride + c] = c % 3 == 0 ? 0x05 : c % 3 == 1 ? 0x80 : 0x00;
        const std::vector<float> x = test::RandomValues(tokens * x_stride, seed + 1, -2, 2);
        std::vector<float> y(tokens * y_stride, -1.0f), y_ref(tokens * y_stride), y1(cols + 1, -1.0f);
        std::vector<float> deq(rows * cols);
        for (size_t r = 0; r < rows; ++r) DequantizeWeightRow(w, r, deq.data() + r * cols);
        MatMulTransposedQuantizedActs(w, x.data(), x_stride, tokens, y.data(), y_stride);
        ref::MatMulTransposed(w, x.data(), x_stride, tokens, y_ref.data(), y_stride);
        const size_t blocks = (rows + 130) / kF8Block - 130 / kF8Block + 1;
        const std::string where = "rows=" + std::to_string(rows) + " cols=" + std::to_string(cols) +
                                  (specials ? " with special codes" : "");
        for (size_t t = 0; t < tokens; ++t) {
          MatMulTransposedQuantizedActs(w, x.data() + t * x_stride, x_stride, 1, y1.data(), cols);
          for (size_t c = 0; c < cols; ++c) {
            double sum_abs = 0;
            for (size_t r = 0; r < rows; ++r) sum_abs += std::fabs(double(deq[r * cols + c]) * x[t * x_stride + r]);
            const std::string at = where + " t=" + std::to_string(t) + " c=" + std::to_string(c);
            ASSERT_NEAR(y[t * y_stride + c], y_ref[t * y_stride + c], test::ErrorBound(rows + 2 * blocks + 2, sum_abs))
                << at;
            ASSERT_EQ(y[t * y_stride + c], y1[c]) << at << " alone differs";
          }
          ASSERT_EQ(y[t * y_stride + cols], -1.0f) << where << ": wrote past the columns";
          ASSERT_EQ(y1[cols], -1.0f) << where << ": wrote past the columns";
        }
        if (rows < 5) continue;
        const uint8_t keep = bytes[3 * w.row_stride + cols - 1];
        bytes[3 * w.row_stride + cols - 1] = 0xFF;  // NaN in the last column
        MatMulTransposedQuantizedActs(w, x.data(), x_stride, 1, y1.data(), cols);
        ASSERT_TRUE(std::isnan(y1[cols - 1])) << where;
        if (cols >= 2 * kF8Block) {
          ASSERT_FALSE(std::isnan(y1[0])) << where << ": NaN beyond the code's column block";
        }
        bytes[3 * w.row_stride + cols - 1] = keep;
      }
}

TEST_P(MatMulActsPortableTest, RoundBf16EqualsScalarF32ToBf16) {
  // Every activation rounding to bf16 (the fast path's and the bf16 cache's) must give
  // F32ToBf16's bits: ties to even both ways, carries into the exponent, infinities, NaNs
  // (quiet, sign kept), subnormals, zeros of both signs; 37 columns leave a tail.
  const size_t cols = 37, tokens = 5, x_stride = 40;
  std::vector<float> x = test::RandomValues(tokens * x_stride, 24, -3, 3);
  const uint32_t special[] = {0x3f808000, 0x3f818000, 0xbf808000, 0x3f80ffff, 0x7f7fffff, 0xff7fffff,
                              0x7f800000, 0xff800000, 0x7f800001, 0xffc00000, 0x7fbfffff, 0x00000001,
                              0x807fffff, 0x00000000, 0x80000000, 0x3f7fffff, 0x0000ffff, 0x00018000};
  for (size_t i = 0; i < std::size(special); ++i) std::memcpy(&x[x_stride + i], &special[i], 4);
  std::vector<uint16_t> got(tokens * cols);
  QuantizeActivations(DType::kBF16, x.data(), x_stride, tokens, cols, got.data());
  for (size_t t = 0; t < tokens; ++t)
    for (size_t c = 0; c < cols; ++c)
      ASSERT_EQ(got[t * cols + c], F32ToBf16(x[t * x_stride + c])) << "token " << t << " column " << c;
  EXPECT_EQ(got[cols + 0], 0x3f80);  // 1 + 2^-8: a tie, to even (down)
  EXPECT_EQ(got[cols + 1], 0x3f82);  // 1 + 3 · 2^-8: a tie, to even (up)
}

TEST(MatMulActsTest, QuantizeActivationsLikeGgml) {
  // d = max|x| / 127 (stored fp16), q = round(x / d) half away from zero: the block max maps
  // to ±127 and every element comes back within d/2 (plus the fp16 rounding of d).
  const std::vector<float> x = test::RandomValues(3 * 64, 5, -4, 4);
  std::vector<BlockQ8_0> q(3 * 2);
  const QuantizedActs xq = QuantizeActivationsQ8_0(x.data(), 64, 3, 64, q.data());
  EXPECT_EQ(xq.row_stride, 2 * sizeof(BlockQ8_0));
  for (size_t b = 0; b < q.size(); ++b) {
    float amax = 0;
    for (size_t i = 0; i < kQ8_0Block; ++i) amax = std::max(amax, std::fabs(x[b * 32 + i]));
    const float d = F16ToF32(q[b].d);
    EXPECT_NEAR(d, amax / 127, amax / 127 * 1e-3);
    int max_q = 0;
    for (size_t i = 0; i < kQ8_0Block; ++i) {
      max_q = std::max(max_q, std::abs(int{q[b].qs[i]}));
      EXPECT_NEAR(d * q[b].qs[i], x[b * 32 + i], d * 0.5f + amax * 1e-3f);
    }
    EXPECT_EQ(max_q, 127);
  }
  const float half[] = {1.5f, 2.5f, -2.5f, 0.0f};
  std::vector<uint16_t> bf(4);
  ToBf16(half, 4, 1, 4, bf.data());
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(Bf16ToF32(bf[i]), half[i]);  // exact in bf16
}

TEST(MatMulActsTest, ThreadedFastProductEqualsRows) {
  ThreadPool pool(3);
  for (DType dt : {DType::kQ8_0, DType::kBF16, DType::kF32, DType::kF8E4M3})
    for (size_t rows : {3, 40, 130})
      for (size_t tokens : {1, 7}) {
        const size_t cols = 128;
        const test::OwnedWeights ow =
            test::MakeWeights(dt, rows, cols, test::RandomValues(rows * cols, 3), 0);
        const std::vector<float> x = test::RandomValues(tokens * cols, 4);
        std::vector<float> y(tokens * rows), y1(tokens * rows);
        MatMulQuantizedActs(ow.w, x.data(), tokens, y.data(), pool);
        if (UsesQuantizedActs(dt)) {
          const DType ad = ActsDType(dt);
          std::vector<uint8_t> xq_bytes(tokens * ActsRowBytes(ad, cols));
          const QuantizedActs xq = QuantizeActivations(ad, x.data(), cols, tokens, cols, xq_bytes.data());
          MatMulRowsQuantizedActs(ow.w, xq, y1.data(), rows, 0, rows);
        } else {
          MatMulRows(ow.w, x.data(), cols, tokens, y1.data(), rows, 0, rows);
        }
        ASSERT_EQ(y, y1) << DTypeName(dt) << " rows=" << rows << " tokens=" << tokens;
      }
}

TEST(MatMulActsTest, RoundedActivationsStayCloseToExact) {
  // Rounding activations moves each product by at most |w|·|x - x̂|: bf16 keeps 8 significant
  // bits, |x - x̂| <= 2^-8·|x|; Q8_0 has |x - x̂| <= d/2 = max|x_block| / 254 (fp16 d adds
  // 2^-11 relative). Sum those per element, plus the accumulation bound of both paths.
  ThreadPool pool(2);
  const size_t rows = 33, cols = 4096 + 32, tokens = 5;
  for (DType dt : kFastDTypes) {
    const std::vector<float> wv = test::RandomValues(rows * cols, 11);
    const test::OwnedWeights ow = test::MakeWeights(dt, rows, cols, wv, 0);
    const std::vector<float> x = test::RandomValues(tokens * cols, 12, -2, 2);
    std::vector<float> y_fast(tokens * rows), y_exact(tokens * rows), wrow(cols);
    const DType ad = ActsDType(dt);
    std::vector<uint8_t> xq_bytes(tokens * ActsRowBytes(ad, cols));
    const QuantizedActs xq = QuantizeActivations(ad, x.data(), cols, tokens, cols, xq_bytes.data());
    MatMulRowsQuantizedActs(ow.w, xq, y_fast.data(), rows, 0, rows);
    MatMul(ow.w, x.data(), tokens, y_exact.data(), pool);
    for (size_t r = 0; r < rows; ++r) {
      DequantizeWeightRow(ow.w, r, wrow.data());
      for (size_t t = 0; t < tokens; ++t) {
        const float* xt = x.data() + t * cols;
        double bound = 0, sum_abs = 0;
        for (size_t b = 0; b < cols; b += kQ8_0Block) {
          float amax = 0;
          for (size_t i = 0; i < kQ8_0Block; ++i) amax = std::max(amax, std::fabs(xt[b + i]));
          for (size_t i = b; i < b + kQ8_0Block; ++i) {
            const double dx = ad == DType::kBF16  ? std::ldexp(std::fabs(xt[i]), -8)
                              : ad == DType::kF16 ? std::ldexp(std::fabs(xt[i]), -11) + 0x1p-25 * ActsScale(xq, t)
                                                  : amax / 254.0 + amax / 127.0 * 127 * 0x1p-11;
            bound += std::fabs(wrow[i]) * dx;
            sum_abs += std::fabs(wrow[i] * xt[i]) + std::fabs(wrow[i]) * dx;
          }
        }
        bound += test::ErrorBound(cols, sum_abs);
        if (ad == DType::kF16) bound += F16SumBound(ScaledMax(ow, r, xt), cols, sum_abs);
        ASSERT_NEAR(y_fast[t * rows + r], y_exact[t * rows + r], bound)
            << DTypeName(dt) << " r=" << r << " t=" << t;
      }
    }
  }
}

// MatMulTransposedQuantizedActs on Q8_0 (vpdpbusd over 4-row interleaved weights) against a
// scalar model of its rounding (a = x[r] · d[r, b] to int8 per 32 rows and block, exact
// integer sums, one FMA per group: bit for bit), against the exact product within that
// rounding's error, and each token against itself computed alone. Shapes: partial row quads
// and groups, an odd number of blocks (a half-used last step), more blocks than 16 lanes,
// rows starting mid-tensor (a kv_b head slice), strides.
TEST(MatMulActsTest, TransposedQ8_0MatchesRoundingModel) {
  if (!HasAvx512Dot()) GTEST_SKIP() << "no AVX512_VNNI";
  for (size_t rows : {1, 5, 33, 128, 130})
    for (size_t cols : {32, 96, 544}) {
      const size_t tokens = 5, x_stride = rows + 3, y_stride = cols + 5;
      const uint32_t seed = static_cast<uint32_t>(rows * 7 + cols);
      const test::OwnedWeights whole = test::MakeWeights(DType::kQ8_0, rows + 130, cols, test::RandomValues((rows + 130) * cols, seed), 34);
      const WeightMatrix w = whole.w.RowSlice(130, rows);
      const std::vector<float> x = test::RandomValues(tokens * x_stride, seed + 1, -2, 2);
      std::vector<float> y(tokens * y_stride, -1.0f), y_ref(tokens * y_stride), y1(cols + 1, -1.0f);
      MatMulTransposedQuantizedActs(w, x.data(), x_stride, tokens, y.data(), y_stride);
      ref::MatMulTransposed(w, x.data(), x_stride, tokens, y_ref.data(), y_stride);
      auto block = [&](size_t r, size_t b) { return static_cast<const BlockQ8_0*>(w.Row(r))[b]; };
      for (size_t t = 0; t < tokens; ++t) {
        MatMulTransposedQuantizedActs(w, x.data() + t * x_stride, x_stride, 1, y1.data(), cols);
        for (size_t c = 0; c < cols; ++c) {
          const size_t b = c / kQ8_0Block;
          float model = 0;
          double bound = 0;
          for (size_t g0 = 0; g0 < rows; g0 += 32) {
            const size_t g1 = std::min(rows, g0 + 32);
            std::vector<float> a(g1 - g0);
            float amax = 0;
            for (size_t r = g0; r < g1; ++r) {
              a[r - g0] = x[t * x_stride + r] * F16ToF32(block(r, b).d);
              amax = std::max(amax, std::fabs(a[r - g0]));
            }
            const float scale = amax / 127.0f, inv = amax > 0 ? 127.0f / amax : 0.0f;
            int32_t isum = 0;
            double qabs = 0;
            for (size_t r = g0; r < g1; ++r) {
              isum += static_cast<int32_t>(std::nearbyint(a[r - g0] * inv)) * block(r, b).qs[c % kQ8_0Block];
              qabs += std::abs(block(r, b).qs[c % kQ8_0Block]);
            }
            model = std::fma(static_cast<float>(isum), scale, model);
            bound += 0.5 * scale * qabs * 1.0001 + 1e-6 * amax * qabs;
          }
          const std::string where = "rows=" + std::to_string(rows) + " cols=" + std::to_string(cols) +
                                    " t=" + std::to_string(t) + " c=" + std::to_string(c);
          ASSERT_EQ(y[t * y_stride + c], model) << where;
          ASSERT_NEAR(y[t * y_stride + c], y_ref[t * y_stride + c], bound) << where;
          ASSERT_EQ(y[t * y_stride + c], y1[c]) << where << " alone differs";
        }
        ASSERT_EQ(y[t * y_stride + cols], -1.0f) << "wrote past the columns";
        ASSERT_EQ(y1[cols], -1.0f) << "wrote past the columns";
      }
    }
}

// MatMulTransposedQuantizedActs on BF16 (vdpbf16ps over pairs of rows interleaved per 16
// columns; attention's weighted sum over a bf16 cache) where the CPU runs it: on integers it
// agrees bit for bit with the exact product; on random values it stays within the rounding
// of x to bf16 (2^-8 relative) plus float summation; each token equals itself alone.
// Shapes: odd rows (a last half pair), columns not a multiple of 16, 1 to 17 tokens (a second
// group of accumulators), strides, a row slice.
TEST(MatMulActsTest, TransposedBf16MatchesTheExactProduct) {
  if (!UsesQuantizedActs(DType::kBF16)) GTEST_SKIP() << "vdpbf16ps is not the fast path on this CPU";
  for (size_t rows : {1, 2, 7, 128, 129})
    for (size_t cols : {16, 40, 512})
      for (size_t tokens : {1, 3, 16, 17}) {
        const size_t x_stride = rows + 3, y_stride = cols + 5;
        const uint32_t seed = static_cast<uint32_t>(rows * 7 + cols + tokens);
        const std::string where =
            "rows=" + std::to_string(rows) + " cols=" + std::to_string(cols) + " tokens=" + std::to_string(tokens);
        for (bool integers : {true, false}) {
          const std::vector<float> wv = integers ? test::RandomIntegers((rows + 3) * cols, seed, -8, 8)
                                                 : test::RandomValues((rows + 3) * cols, seed);
          const test::OwnedWeights whole = test::MakeWeights(DType::kBF16, rows + 3, cols, wv, 6);
          const WeightMatrix w = whole.w.RowSlice(3, rows);
          const std::vector<float> x = integers ? test::RandomIntegers(tokens * x_stride, seed + 1, -8, 8)
                                                : test::RandomValues(tokens * x_stride, seed + 1, 0, 1);
          std::vector<float> y(tokens * y_stride, -1.0f), y_ref(tokens * y_stride), y1(cols + 1, -1.0f);
          std::vector<float> wrows(rows * cols);
          for (size_t r = 0; r < rows; ++r) DequantizeWeightRow(w, r, wrows.data() + r * cols);
          MatMulTransposedQuantizedActs(w, x.data(), x_stride, tokens, y.data(), y_stride);
          ref::MatMulTransposed(w, x.data(), x_stride, tokens, y_ref.data(), y_stride);
          for (size_t t = 0; t < tokens; ++t) {
            MatMulTransposedQuantizedActs(w, x.data() + t * x_stride, x_stride, 1, y1.data(), cols);
            for (size_t c = 0; c < cols; ++c) {
              const std::string at = where + " t=" + std::to_string(t) + " c=" + std::to_string(c);
              if (integers) {
                ASSERT_EQ(y[t * y_stride + c], y_ref[t * y_stride + c]) << at;
              } else {
                double sum_abs = 0;
                for (size_t r = 0; r < rows; ++r) sum_abs += std::fabs(double(x[t * x_stride + r]) * wrows[r * cols + c]);
                ASSERT_NEAR(y[t * y_stride + c], y_ref[t * y_stride + c], 0x1p-8 * sum_abs + test::ErrorBound(rows, sum_abs))
                    << at;
              }
              ASSERT_EQ(y[t * y_stride + c], y1[c]) << at << " alone differs";
            }
            ASSERT_EQ(y[t * y_stride + cols], -1.0f) << where << ": wrote past the columns";
            ASSERT_EQ(y1[cols], -1.0f) << where << ": wrote past the columns";
          }
        }
      }
}

}  // namespace
}  // namespace moe
