// Q8_0 and BF16 weights tiled at load (weight_tiles.h): the layouts are the documented ones
// and round-trip, and every product over a tiled matrix equals the same product over the row
// layout bit for bit: the AVX-512 kernels that read tiles (matmul_q8_tiled.cc,
// matmul_bf16_gemm.cc) against the row-layout fast path, and the paths that untile (exact,
// portable, references, transposed, dequantized rows).
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "kernels/cpu/matmul.h"
#include "kernels/cpu/weight_tiles.h"
#include "matmul_test_util.h"

namespace moe {
namespace {

// A matrix in both layouts (own copies of the bytes).
struct Twins {
  test::OwnedWeights rows;
  std::vector<uint8_t> tiled_bytes;
  WeightMatrix tiled;
};

Twins MakeTwins(DType dt, size_t rows, size_t cols, uint32_t seed) {
  Twins t{test::MakeWeights(dt, rows, cols, test::RandomValues(rows * cols, seed, -2, 2), 0), {}, {}};
  t.tiled_bytes.assign(static_cast<const uint8_t*>(t.rows.w.data),
                       static_cast<const uint8_t*>(t.rows.w.data) + rows * t.rows.w.row_stride);
  WeightMatrix w = t.rows.w;
  w.data = t.tiled_bytes.data();
  t.tiled = TileInPlace(w);
  return t;
}

std::string Shape(size_t rows, size_t cols, size_t tokens) {
  return "rows=" + std::to_string(rows) + " cols=" + std::to_string(cols) + " tokens=" + std::to_string(tokens);
}

constexpr DType kTiled[] = {DType::kQ8_0, DType::kBF16};

TEST(WeightTilesTest, OnlyPackedRowsInWholeTilesCanBeTiled) {
  for (DType dt : kTiled) {
    const test::OwnedWeights a = test::MakeWeights(dt, 32, 64, test::RandomValues(32 * 64, 1), 0);
    EXPECT_TRUE(CanTile(a.w)) << DTypeName(dt);
    const test::OwnedWeights padded = test::MakeWeights(dt, 32, 64, test::RandomValues(32 * 64, 1), 2);
    EXPECT_FALSE(CanTile(padded.w)) << DTypeName(dt);
    const test::OwnedWeights odd = test::MakeWeights(dt, 24, 64, test::RandomValues(24 * 64, 1), 0);
    EXPECT_FALSE(CanTile(odd.w)) << DTypeName(dt);
    EXPECT_FALSE(CanTile(MakeTwins(dt, 32, 64, 1).tiled)) << DTypeName(dt) << " already tiled";
  }
  const test::OwnedWeights ragged = test::MakeWeights(DType::kBF16, 32, 48, test::RandomValues(32 * 48, 1), 0);
  EXPECT_FALSE(CanTile(ragged.w)) << "bf16 columns not a multiple of 32";
  for (DType dt : {DType::kF32, DType::kF16}) {
    const test::OwnedWeights f = test::MakeWeights(dt, 32, 64, test::RandomValues(32 * 64, 1), 0);
    EXPECT_FALSE(CanTile(f.w)) << DTypeName(dt);
  }
}

TEST(WeightTilesTest, Q8LayoutIsTheDocumentedOneAndRoundTrips) {
  const size_t rows = 48, cols = 96, nb = cols / kQ8_0Block;
  const Twins t = MakeTwins(DType::kQ8_0, rows, cols, 2);
  ASSERT_EQ(t.tiled.layout, WeightLayout::kQ8_0Tiles16);
  ASSERT_NE(std::memcmp(t.tiled_bytes.data(), t.rows.w.data, t.tiled_bytes.size()), 0);
  // Spot the documented byte positions for every row, block and column.
  const size_t tile_bytes = 16 * t.rows.w.row_stride;
  for (size_t r = 0; r < rows; ++r) {
    const auto* row = static_cast<const BlockQ8_0*>(t.rows.w.Row(r));
    const uint8_t* tile = t.tiled_bytes.data() + r / 16 * tile_bytes;
    for (size_t b = 0; b < nb; ++b) {
      // Blocks in pairs of 1088 bytes: two blocks of quants, then their two sets of scales;
      // the third block of this 96-column matrix stands alone.
      const uint8_t* pair = tile + 1088 * (b / 2);
      const uint8_t* quants = pair + 512 * (b % 2);
      const uint8_t* scales = b == 2 ? pair + 512 : pair + 1024 + 32 * (b % 2);
      for (size_t c = 0; c < kQ8_0Block; ++c)
        ASSERT_EQ(quants[64 * (c / 4) + 4 * (r % 16) + c % 4], static_cast<uint8_t>(row[b].qs[c]) ^ 0x80u)
            << "row " << r << " block " << b << " column " << c;
      uint16_t d;
      std::memcpy(&d, scales + 2 * (r % 16), 2);
      ASSERT_EQ(d, row[b].d) << "row " << r << " block " << b;
    }
  }
  std::vector<BlockQ8_0> back(rows * nb);
  UntileRows(t.tiled, 0, rows, back.data());
  EXPECT_EQ(std::memcmp(back.data(), t.rows.w.data, back.size() * sizeof(BlockQ8_0)), 0);
  std::vector<BlockQ8_0> some(5 * nb);
  UntileRows(t.tiled, 13, 18, some.data());
  EXPECT_EQ(std::memcmp(some.data(), t.rows.w.Row(13), some.size() * sizeof(BlockQ8_0)), 0);
}

TEST(WeightTilesTest, Bf16LayoutIsTheDocumentedOneAndRoundTrips) {
  const size_t rows = 32, cols = 64;
  const Twins t = MakeTwins(DType::kBF16, rows, cols, 4);
  ASSERT_EQ(t.tiled.layout, WeightLayout::kBf16Tiles16);
  const size_t tile_bytes = 16 * t.rows.w.row_stride;
  for (size_t r = 0; r < rows; ++r)
    for (size_t c = 0; c < cols; ++c) {
      uint16_t want, got;
      std::memcpy(&want, static_cast<const uint8_t*>(t.rows.w.Row(r)) + 2 * c, 2);
      std::memcpy(&got, t.tiled_bytes.data() + r / 16 * tile_bytes + 64 * (c / 2) + 4 * (r % 16) + 2 * (c % 2), 2);
      ASSERT_EQ(got, want) << "row " << r << " column " << c;
    }
  std::vector<uint8_t> back(rows * t.rows.w.row_stride);
  UntileRows(t.tiled, 0, rows, back.data());
  EXPECT_EQ(std::memcmp(back.data(), t.rows.w.data, back.size()), 0);
}

// The fast product on both layouts, every implementation, for token counts that take the
// decode tiles, partial and full 8-token groups and several token passes. (The row layout's
// kernels are held to the reference in matmul_acts_test.cc.)
TEST(WeightTilesTest, FastProductsEqualTheRowLayoutBitForBit) {
  for (DType dt : kTiled)
  for (size_t cols : {32, 96, 1024 + 64})
    for (size_t rows : {16, 64})
      for (size_t tokens : {1, 2, 3, 4, 8, 13, 300}) {
        if (tokens == 300 && cols != 1024 + 64) continue;
        const Twins t = MakeTwins(dt, rows, cols, static_cast<uint32_t>(rows + cols + tokens));
        const std::vector<float> x = test::RandomValues(tokens * cols, 7, -3, 3);
        const DType ad = ActsDType(dt);
        std::vector<uint8_t> xq_bytes(tokens * ActsRowBytes(ad, cols));
        const QuantizedActs xq = QuantizeActivations(ad, x.data(), cols, tokens, cols, xq_bytes.data());
        std::vector<DotImpl> impls = {DotImpl::kPortable};
        if (HasAvx512Dot()) impls.push_back(DotImpl::kAvx512);
        for (DotImpl impl : impls)
          for (auto [rb, re] : {std::pair<size_t, size_t>{0, rows}, {rows - 16, rows}}) {
            std::vector<float> want(tokens * rows, -1.0f), got(tokens * rows, -1.0f);
            MatMulRowsQuantizedActs(t.rows.w, xq, want.data(), rows, rb, re, impl);
            MatMulRowsQuantizedActs(t.tiled, xq, got.data(), rows, rb, re, impl);
            ASSERT_EQ(got, want) << DTypeName(dt) << " " << Shape(rows, cols, tokens) << (impl == DotImpl::kAvx512 ? " avx512" : " portable")
                                 << " rows " << rb << ".." << re;
          }
        std::vector<float> want(tokens * rows), got(tokens * rows);
        ref::MatMulRowsQuantizedActs(t.rows.w, xq, want.data(), rows, 0, rows);
        ref::MatMulRowsQuantizedActs(t.tiled, xq, got.data(), rows, 0, rows);
        ASSERT_EQ(got, want) << DTypeName(dt) << " " << Shape(rows, cols, tokens) << " reference";
      }
}

TEST(WeightTilesTest, ExactAndTransposedProductsAndRowsUntile) {
  for (DType dt : kTiled) {
  SCOPED_TRACE(DTypeName(dt));
  const size_t rows = 80, cols = 160, tokens = 5;
  const Twins t = MakeTwins(dt, rows, cols, 3);
  const std::vector<float> x = test::RandomValues(tokens * cols, 8);
  for (auto [rb, re] : {std::pair<size_t, size_t>{0, rows}, {5, 70}, {64, 80}}) {
    std::vector<float> want(tokens * rows, -1.0f), got(tokens * rows, -1.0f);
    MatMulRows(t.rows.w, x.data(), cols, tokens, want.data(), rows, rb, re);
    MatMulRows(t.tiled, x.data(), cols, tokens, got.data(), rows, rb, re);
    ASSERT_EQ(got, want) << "exact rows " << rb << ".." << re;
    ref::MatMulRows(t.rows.w, x.data(), cols, tokens, want.data(), rows, rb, re);
    ref::MatMulRows(t.tiled, x.data(), cols, tokens, got.data(), rows, rb, re);
    ASSERT_EQ(got, want) << "reference rows " << rb << ".." << re;
  }
  const std::vector<float> xt = test::RandomValues(tokens * rows, 9);
  std::vector<float> want(tokens * cols), got(tokens * cols);
  MatMulTransposed(t.rows.w, xt.data(), rows, tokens, want.data(), cols);
  MatMulTransposed(t.tiled, xt.data(), rows, tokens, got.data(), cols);
  ASSERT_EQ(got, want) << "transposed";
  MatMulTransposedQuantizedActs(t.rows.w, xt.data(), rows, tokens, want.data(), cols);
  MatMulTransposedQuantizedActs(t.tiled, xt.data(), rows, tokens, got.data(), cols);
  ASSERT_EQ(got, want) << "transposed, quantized activations";
  std::vector<float> a(cols), b(cols);
  for (size_t r = 0; r < rows; ++r) {
    DequantizeWeightRow(t.rows.w, r, a.data());
    DequantizeWeightRow(t.tiled, r, b.data());
    ASSERT_EQ(a, b) << "row " << r;
  }
  }
}

}  // namespace
}  // namespace moe
