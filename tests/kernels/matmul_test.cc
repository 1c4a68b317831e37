// Exact path of matmul.h (MatMulRows, MatMul) on every compiled Highway target against the
// scalar reference ref::MatMulRows: all dtypes, odd sizes, padded strides, row sub-ranges.
#include "kernels/cpu/matmul.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "hwy/tests/hwy_gtest.h"
#include "matmul_test_util.h"

namespace moe {
namespace {

constexpr DType kAllDTypes[] = {DType::kF32, DType::kF16, DType::kBF16, DType::kQ8_0, DType::kF8E4M3};

std::string Where(DType dt, size_t rows, size_t cols, size_t tokens) {
  return std::string(DTypeName(dt)) + " rows=" + std::to_string(rows) +
         " cols=" + std::to_string(cols) + " tokens=" + std::to_string(tokens);
}

// One product y = x · Wᵀ over rows [rb, re) with strides larger than the data (x_stride =
// cols + 3, y_stride = rows + 5, rows padded by 34 bytes). Outputs outside the sub-range must
// keep their sentinel. `integers` switches to exactly representable data and bitwise equality.
void CheckCase(DType dt, size_t rows, size_t cols, size_t tokens, size_t rb, size_t re,
               bool integers) {
  const uint32_t seed = static_cast<uint32_t>(rows * 131 + cols * 7 + tokens);
  std::vector<float> wv = integers ? test::RandomIntegers(rows * cols, seed, -8, 8)
                                   : test::RandomValues(rows * cols, seed);
  if (integers && dt == DType::kQ8_0) {
    // max|w| = 127 in every block makes the scale exactly 1, so the integers survive quantizing.
    for (size_t i = 0; i < wv.size(); i += kQ8_0Block) wv[i] = (i / kQ8_0Block) % 2 ? 127 : -127;
  }
  const test::OwnedWeights ow = test::MakeWeights(dt, rows, cols, wv, 34, /*pow2_scales=*/integers);
  const size_t x_stride = cols + 3, y_stride = rows + 5;
  const std::vector<float> x = integers ? test::RandomIntegers(tokens * x_stride, seed + 1, -8, 8)
                                        : test::RandomValues(tokens * x_stride, seed + 1);
  constexpr float kSentinel = -12345.0f;
  std::vector<float> y(tokens * y_stride, kSentinel), y_ref(tokens * y_stride, kSentinel);
  MatMulRows(ow.w, x.data(), x_stride, tokens, y.data(), y_stride, rb, re);
  ref::MatMulRows(ow.w, x.data(), x_stride, tokens, y_ref.data(), y_stride, rb, re);

  std::vector<float> row(cols);
  for (size_t r = 0; r < rows; ++r) {
    DequantizeWeightRow(ow.w, r, row.data());
    for (size_t t = 0; t < tokens; ++t) {
      const float got = y[t * y_stride + r], want = y_ref[t * y_stride + r];
      if (r < rb || r >= re) {
        ASSERT_EQ(got, kSentinel) << Where(dt, rows, cols, tokens) << " wrote outside rows";
        continue;
      }
      if (integers) {
        ASSERT_EQ(got, want) << Where(dt, rows, cols, tokens) << " r=" << r << " t=" << t;
        continue;
      }
      double sum_abs = 0;
      for (size_t c = 0; c < cols; ++c) sum_abs += std::fabs(double(row[c]) * x[t * x_stride + c]);
      ASSERT_NEAR(got, want, test::ErrorBound(cols, sum_abs))
          << Where(dt, rows, cols, tokens) << " r=" << r << " t=" << t;
    }
  }
}

class MatMulTest : public hwy::TestWithParamTarget {};
HWY_TARGET_INSTANTIATE_TEST_SUITE_P(MatMulTest);

TEST_P(MatMulTest, MatchesReference) {
  for (DType dt : kAllDTypes)
    for (size_t cols : {32, 64, 96, 4096 + 32})
      for (size_t rows : {1, 3, 17})
        for (size_t tokens : {1, 2, 5, 9}) CheckCase(dt, rows, cols, tokens, 0, rows, false);
}

TEST_P(MatMulTest, RowSubRanges) {
  for (DType dt : kAllDTypes)
    for (size_t tokens : {1, 5}) {
      CheckCase(dt, 17, 96, tokens, 3, 14, false);   // crosses 4-row tiles, ends mid-tile
      CheckCase(dt, 17, 96, tokens, 16, 17, false);  // last row only
      CheckCase(dt, 17, 96, tokens, 5, 5, false);    // empty
    }
}

TEST_P(MatMulTest, ExactOnIntegers) {
  // Integer data makes every order of summation exact: any indexing slip shows bit for bit.
  for (DType dt : kAllDTypes)
    for (size_t cols : {32, 96, 4096 + 32})
      for (size_t tokens : {1, 2, 5, 9}) CheckCase(dt, 17, cols, tokens, 1, 16, true);
}

TEST_P(MatMulTest, ColumnTailsOfUnblockedTypes) {
  // F32/F16/BF16 rows need not be a multiple of the vector length.
  for (DType dt : {DType::kF32, DType::kF16, DType::kBF16})
    for (size_t cols : {1, 7, 15, 33, 100, 1000})
      for (size_t tokens : {1, 3, 4, 6}) {
        CheckCase(dt, 5, cols, tokens, 0, 5, false);
        CheckCase(dt, 5, cols, tokens, 0, 5, true);
      }
}

TEST_P(MatMulTest, Fp8PartialBlocksAndTails) {
  // FP8 blocks are 128 x 128 with a scale each: sizes that end mid-block and mid-vector, and
  // matrices spanning several block rows (rows 130, 300) so tiles cross block-row boundaries.
  for (size_t cols : {1, 7, 100, 128, 130, 257, 300})
    for (size_t rows : {3, 130, 300})
      for (size_t tokens : {1, 2, 7}) {
        CheckCase(DType::kF8E4M3, rows, cols, tokens, 0, rows, false);
        CheckCase(DType::kF8E4M3, rows, cols, tokens, 0, rows, true);
      }
  CheckCase(DType::kF8E4M3, 300, 300, 5, 125, 261, false);  // sub-range across block rows
}

// Decoding the stored FP8 weights (kernel and DequantizeWeightRow) gives back the values they
// were quantized from, to e4m3 precision: |w - ŵ| <= 2^-4 |w| (3 mantissa bits, round to
// nearest) plus half the smallest subnormal step 2^-10 · scale. This checks the scale indexing
// independently of the reference, which shares RowScales with the kernel.
TEST_P(MatMulTest, Fp8DecodesToQuantizedValues) {
  const size_t rows = 300, cols = 260;
  std::vector<float> wv = test::RandomValues(rows * cols, 11);
  // Very different magnitudes per block, so a wrong block's scale is off by far.
  for (size_t r = 0; r < rows; ++r)
    for (size_t c = 0; c < cols; ++c) wv[r * cols + c] *= std::ldexp(1.0f, static_cast<int>((r / 128) * 5 + (c / 128) * 2) - 6);
  const test::OwnedWeights ow = test::MakeWeights(DType::kF8E4M3, rows, cols, wv, 0);
  std::vector<float> x(cols), y(rows);
  for (size_t c = 0; c < cols; ++c) {
    // One-hot activations read column c of every row through the kernel.
    std::fill(x.begin(), x.end(), 0.0f);
    x[c] = 1.0f;
    MatMulRows(ow.w, x.data(), cols, 1, y.data(), rows, 0, rows);
    for (size_t r = 0; r < rows; ++r) {
      const float w = wv[r * cols + c];
      const float scale = ow.scales[r / 128 * 3 + c / 128];
      ASSERT_LE(std::fabs(y[r] - w), std::ldexp(std::fabs(w), -4) + std::ldexp(scale, -10)) << "r=" << r << " c=" << c;
    }
  }
}

// Every one of the 256 codes through the kernel's vector decoder (subnormals, -0, NaN):
// row r holds all finite codes rotated by r (NaN codes replaced by 0, since 0 · NaN would
// poison every product of the row), scales 0.75 and -3 (not powers of two), and one-hot
// activations pick single weights, so y equals float32(e4m3 value · scale) exactly. Then
// each NaN code alone must make its row's output NaN.
TEST_P(MatMulTest, Fp8EveryCodeThroughTheKernel) {
  const size_t rows = 4, cols = 256;
  const float scales[2] = {0.75f, -3.0f};
  std::vector<float> x(cols), y(rows);
  // Twice: all codes (blocks take the fp16 decoder), then exponent-0 codes replaced by the
  // smallest normal 0x08 (blocks take LoadNormal, the integer decoder).
  for (bool normal_only : {false, true}) {
  std::vector<uint8_t> bytes(rows * cols);
  for (size_t r = 0; r < rows; ++r)
    for (size_t c = 0; c < cols; ++c) {
      uint8_t code = static_cast<uint8_t>(c + r * 17);
      if ((code & 0x7F) == 0x7F || (normal_only && (code & 0x78) == 0)) code = normal_only ? 0x08 : 0;
      bytes[r * cols + c] = code;
    }
  const WeightMatrix w{DType::kF8E4M3, bytes.data(), rows, cols, cols, scales, 2, 0};
  for (size_t c = 0; c < cols; ++c) {
    std::fill(x.begin(), x.end(), 0.0f);
    x[c] = 1.0f;
    MatMulRows(w, x.data(), cols, 1, y.data(), rows, 0, rows);
    for (size_t r = 0; r < rows; ++r) {
      const uint8_t code = bytes[r * cols + c];
      const float want = F8E4M3ToF32(code) * scales[c / 128];
      ASSERT_EQ(y[r], want) << "code " << int(code) << (normal_only ? " (normal blocks)" : "");
    }
  }
  }
  for (uint8_t nan_code : {0x7F, 0xFF})
    for (size_t c : {0, 5, 130}) {  // vector body of both blocks
      std::vector<uint8_t> one(rows * cols, 0x38);  // 1.0
      one[cols + c] = nan_code;
      const WeightMatrix wn{DType::kF8E4M3, one.data(), rows, cols, cols, scales, 2, 0};
      std::fill(x.begin(), x.end(), 1.0f);
      MatMulRows(wn, x.data(), cols, 1, y.data(), rows, 0, rows);
      EXPECT_FALSE(std::isnan(y[0]));
      EXPECT_TRUE(std::isnan(y[1])) << "code " << int(nan_code) << " at column " << c;
    }
}

// A row slice starting anywhere (MLA's kv_b value rows start at h·(nope + dv) + nope) keeps
// each row's own block scales: its product equals the whole matrix's rows bit for bit.
TEST_P(MatMulTest, Fp8RowSlicesKeepTheirScales) {
  const size_t rows = 300, cols = 200;
  const test::OwnedWeights ow = test::MakeWeights(DType::kF8E4M3, rows, cols, test::RandomValues(rows * cols, 5), 8);
  const std::vector<float> x = test::RandomValues(3 * cols, 6);
  std::vector<float> full(3 * rows);
  MatMulRows(ow.w, x.data(), cols, 3, full.data(), rows, 0, rows);
  for (auto [begin, n] : {std::pair<size_t, size_t>{37, 40}, {120, 20}, {127, 130}, {255, 45}}) {
    const WeightMatrix slice = ow.w.RowSlice(begin, n);
    std::vector<float> y(3 * n), want(cols), got(cols);
    MatMulRows(slice, x.data(), cols, 3, y.data(), n, 0, n);
    for (size_t t = 0; t < 3; ++t)
      for (size_t r = 0; r < n; ++r) ASSERT_EQ(y[t * n + r], full[t * rows + begin + r]) << begin << "+" << r;
    for (size_t r = 0; r < n; ++r) {
      DequantizeWeightRow(slice, r, got.data());
      DequantizeWeightRow(ow.w, begin + r, want.data());
      ASSERT_EQ(got, want) << begin << "+" << r;
    }
  }
}

TEST_P(MatMulTest, LongTokenBatchesSpanSeveralPasses) {
  // More tokens than fit in one activation pass (see TokensPerPass in matmul-inl.h).
  CheckCase(DType::kQ8_0, 9, 4096 + 32, 70, 0, 9, true);
  CheckCase(DType::kBF16, 9, 4096 + 32, 37, 0, 9, false);
  CheckCase(DType::kF8E4M3, 9, 4096 + 32, 37, 0, 9, false);
}

TEST_P(MatMulTest, ThreadedEqualsSingleThread) {
  // Each output's summation order does not depend on the row split: results are bitwise equal.
  ThreadPool pool(3);
  for (DType dt : kAllDTypes)
    for (size_t rows : {1, 17, 40, 130})
      for (size_t tokens : {1, 6}) {
        const size_t cols = 96;
        const test::OwnedWeights ow =
            test::MakeWeights(dt, rows, cols, test::RandomValues(rows * cols, 7), 0);
        const std::vector<float> x = test::RandomValues(tokens * cols, 8);
        std::vector<float> y(tokens * rows, -1.0f), y1(tokens * rows, -2.0f);
        MatMul(ow.w, x.data(), tokens, y.data(), pool);
        MatMulRows(ow.w, x.data(), cols, tokens, y1.data(), rows, 0, rows);
        ASSERT_EQ(y, y1) << Where(dt, rows, cols, tokens);
      }
}

// A token's outputs must not depend on the other tokens of the call (continuous batching
// relies on it): every token count from 1 to 13 against the 13-token product, bit for bit,
// on column counts that end mid-vector and mid-block.
TEST_P(MatMulTest, TokenResultsDoNotDependOnTheBatch) {
  for (DType dt : kAllDTypes)
    for (size_t cols : {96, 300, 1024}) {
      if (cols % BlockSize(dt) != 0) continue;
      const size_t rows = 21, max_tokens = 13;
      const test::OwnedWeights ow = test::MakeWeights(dt, rows, cols, test::RandomValues(rows * cols, 9), 0);
      const std::vector<float> x = test::RandomValues(max_tokens * cols, 10);
      std::vector<float> all(max_tokens * rows);
      MatMulRows(ow.w, x.data(), cols, max_tokens, all.data(), rows, 0, rows);
      for (size_t n = 1; n < max_tokens; ++n)
        for (size_t t0 : {size_t{0}, max_tokens - n}) {
          std::vector<float> y(n * rows);
          MatMulRows(ow.w, x.data() + t0 * cols, cols, n, y.data(), rows, 0, rows);
          for (size_t t = 0; t < n; ++t)
            for (size_t r = 0; r < rows; ++r)
              ASSERT_EQ(y[t * rows + r], all[(t0 + t) * rows + r]) << Where(dt, rows, cols, n) << " token " << t0 + t << " row " << r;
        }
    }
}

// MatMulTransposed (y = x · W, rows of W are the reduction) against the reference on every
// dtype and target, with strides, column tails, and rows that start mid FP8 block (a kv_b
// head slice); each token's outputs must equal that token computed alone, bit for bit.
TEST_P(MatMulTest, TransposedMatchesReferenceAndIsBatchInvariant) {
  for (DType dt : kAllDTypes)
    for (size_t rows : {1, 5, 128})
      for (size_t cols : {32, 96, 544, 7, 100, 300}) {
        if (cols % BlockSize(dt) != 0) continue;
        const size_t tokens = 13, x_stride = rows + 3, y_stride = cols + 5;
        const uint32_t seed = static_cast<uint32_t>(rows * 31 + cols);
        const test::OwnedWeights whole = test::MakeWeights(dt, rows + 130, cols, test::RandomValues((rows + 130) * cols, seed), 34);
        const WeightMatrix w = whole.w.RowSlice(130, rows);
        const std::vector<float> x = test::RandomValues(tokens * x_stride, seed + 1, -2, 2);
        std::vector<float> y(tokens * y_stride, -1.0f), y_ref(tokens * y_stride, -1.0f), y1(cols);
        MatMulTransposed(w, x.data(), x_stride, tokens, y.data(), y_stride);
        ref::MatMulTransposed(w, x.data(), x_stride, tokens, y_ref.data(), y_stride);
        std::vector<float> deq(rows * cols);
        for (size_t r = 0; r < rows; ++r) DequantizeWeightRow(w, r, deq.data() + r * cols);
        for (size_t t = 0; t < tokens; ++t) {
          MatMulTransposed(w, x.data() + t * x_stride, x_stride, 1, y1.data(), cols);
          for (size_t c = 0; c < cols; ++c) {
            double sum_abs = 0;
            for (size_t r = 0; r < rows; ++r) sum_abs += std::fabs(double(deq[r * cols + c]) * x[t * x_stride + r]);
            const std::string where = Where(dt, rows, cols, tokens) + " t=" + std::to_string(t) + " c=" + std::to_string(c);
            ASSERT_NEAR(y[t * y_stride + c], y_ref[t * y_stride + c], test::ErrorBound(rows, sum_abs)) << where;
            ASSERT_EQ(y[t * y_stride + c], y1[c]) << where << " alone differs";
          }
          ASSERT_EQ(y[t * y_stride + cols], -1.0f) << "wrote past the columns";
        }
      }
}

TEST_P(MatMulTest, TransposedFp8NanCodeGivesNan) {
  const size_t rows = 4, cols = 160;
  test::OwnedWeights ow = test::MakeWeights(DType::kF8E4M3, rows, cols, test::RandomValues(rows * cols, 3), 0);
  ow.bytes[2 * ow.w.row_stride + 70] = 0x7F;  // row 2, column 70: NaN
  const std::vector<float> x(rows, 1.0f);
  std::vector<float> y(cols);
  MatMulTransposed(ow.w, x.data(), rows, 1, y.data(), cols);
  EXPECT_TRUE(std::isnan(y[70]));
}

TEST(MatMulThreads, RowBlocksCoverEveryRowOnce) {
  ThreadPool pool(3);
  for (size_t rows : {0, 1, 4, 31, 32, 33, 100, 4097}) {
    std::vector<int> seen(rows, 0);
    RowBlocksParallel(pool, rows, [&](size_t b, size_t e) {
      EXPECT_TRUE(b % 4 == 0) << b;
      for (size_t r = b; r < e; ++r) ++seen[r];
    });
    for (size_t r = 0; r < rows; ++r) ASSERT_EQ(seen[r], 1) << "rows=" << rows << " r=" << r;
  }
}

}  // namespace
}  // namespace moe
