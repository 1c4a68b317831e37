#include "kernels/cpu/weight_tiles.h"

#include <cstring>

#include "base/check.h"

namespace moe {

namespace {

// Row r (r < 16) of a Q8_0 tile written into / read from the tile's bytes.
void PutQ8Row(const BlockQ8_0* row, size_t r, size_t nb, uint8_t* tile) {
  for (size_t b = 0; b < nb; ++b) {
    uint8_t* q = tile + Q8TileQuantOffset(b) + 4 * r;
    for (size_t j = 0; j < kQ8_0Block / 4; ++j) {  // a dword of 4 quants, each + 128
      uint32_t v;
      std::memcpy(&v, row[b].qs + 4 * j, 4);
      v ^= 0x80808080u;
      std::memcpy(q + 64 * j, &v, 4);
    }
    std::memcpy(tile + Q8TileScaleOffset(b, nb) + 2 * r, &row[b].d, sizeof(uint16_t));
  }
}

void GetQ8Row(const uint8_t* tile, size_t r, size_t nb, BlockQ8_0* row) {
  for (size_t b = 0; b < nb; ++b) {
    const uint8_t* q = tile + Q8TileQuantOffset(b) + 4 * r;
    for (size_t j = 0; j < kQ8_0Block / 4; ++j) {
      uint32_t v;
      std::memcpy(&v, q + 64 * j, 4);
      v ^= 0x80808080u;
      std::memcpy(row[b].qs + 4 * j, &v, 4);
    }
    std::memcpy(&row[b].d, tile + Q8TileScaleOffset(b, nb) + 2 * r, sizeof(uint16_t));
  }
}

// BF16: column pair v of row r is dword r of vector v.
void PutBf16Row(const uint8_t* row, size_t r, size_t cols, uint8_t* tile) {
  for (size_t v = 0; v < cols / 2; ++v) std::memcpy(tile + 64 * v + 4 * r, row + 4 * v, 4);
}

void GetBf16Row(const uint8_t* tile, size_t r, size_t cols, uint8_t* row) {
  for (size_t v = 0; v < cols / 2; ++v) std::memcpy(row + 4 * v, tile + 64 * v + 4 * r, 4);
}

}  // namespace

WeightLayout TiledLayout(DType dtype) {
  if (dtype == DType::kQ8_0) return WeightLayout::kQ8_0Tiles16;
  if (dtype == DType::kBF16) return WeightLayout::kBf16Tiles16;
  return WeightLayout::kRows;
}

bool CanTile(const WeightMatrix& w) {
  return TiledLayout(w.dtype) != WeightLayout::kRows && w.layout == WeightLayout::kRows && w.rows % kWeightTileRows == 0 &&
         w.cols % 32 == 0 && w.row_stride == RowBytes(w.dtype, w.cols);
}

WeightMatrix TileInPlace(const WeightMatrix& w) {
  MOE_CHECK(CanTile(w));
  const size_t tile_bytes = kWeightTileRows * w.row_stride;
  thread_local std::vector<uint8_t> tile;
  tile.resize(tile_bytes);
  auto* base = static_cast<uint8_t*>(const_cast<void*>(w.data));
  for (size_t p = 0; p < w.rows / kWeightTileRows; ++p) {
    uint8_t* dst = base + p * tile_bytes;
    for (size_t r = 0; r < kWeightTileRows; ++r) {
      const uint8_t* row = dst + r * w.row_stride;
      if (w.dtype == DType::kQ8_0) PutQ8Row(reinterpret_cast<const BlockQ8_0*>(row), r, w.cols / kQ8_0Block, tile.data());
      else PutBf16Row(row, r, w.cols, tile.data());
    }
    std::memcpy(dst, tile.data(), tile_bytes);
  }
  WeightMatrix t = w;
  t.layout = TiledLayout(w.dtype);
  return t;
}

void UntileRows(const WeightMatrix& w, size_t r0, size_t r1, void* out) {
  MOE_CHECK(w.layout != WeightLayout::kRows && w.layout == TiledLayout(w.dtype) && r0 <= r1 && r1 <= w.rows);
  const size_t tile_bytes = kWeightTileRows * w.row_stride;
  for (size_t r = r0; r < r1; ++r) {
    const auto* tile = static_cast<const uint8_t*>(w.data) + r / kWeightTileRows * tile_bytes;
    uint8_t* row = static_cast<uint8_t*>(out) + (r - r0) * w.row_stride;
    if (w.dtype == DType::kQ8_0) GetQ8Row(tile, r % kWeightTileRows, w.cols / kQ8_0Block, reinterpret_cast<BlockQ8_0*>(row));
    else GetBf16Row(tile, r % kWeightTileRows, w.cols, row);
  }
}

WeightMatrix RowMajorRows(const WeightMatrix& w, size_t r0, size_t r1, std::vector<uint8_t>& buf) {
  if (w.layout == WeightLayout::kRows) return w.RowSlice(r0, r1 - r0);
  buf.resize((r1 - r0) * w.row_stride);
  UntileRows(w, r0, r1, buf.data());
  return {w.dtype, buf.data(), r1 - r0, w.cols, w.row_stride};
}

}  // namespace moe
