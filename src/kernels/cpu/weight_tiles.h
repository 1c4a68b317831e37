// Tiled weight layouts: rows interleaved 16 at a time in the order the AVX-512 kernels
// consume them, written once at load (model/weights.h RepackWeights) so that neither decode
// nor prefill transposes blocks at run time. Tile p holds rows 16p .. 16p + 15 in the same
// 16 · row_stride bytes those rows fill in the row layout, so a matrix is rewritten in
// place. Only matrices whose rows are a multiple of 16 and packed (row_stride == RowBytes)
// are tiled.
//
// kQ8_0Tiles16 (matmul_q8_tiled.cc), with nb = cols / 32 blocks per row, in pairs of blocks
// (2p, 2p + 1) of 1088 bytes each, at 1088 p:
//   bytes [0, 512) and [512, 1024)  the quants of blocks 2p and 2p + 1: byte 64 j + 4 r + k
//                                   is quant 4 j + k of row r, XOR 0x80 (w + 128 as an
//                                   unsigned byte, vpdpbusd's unsigned operand); j < 8,
//                                   r < 16, k < 4: one 64-byte vector per 4 columns, a dword
//                                   per row;
//   bytes [1024, 1056), [1056, 1088) the 16 fp16 scales of blocks 2p and 2p + 1, row r's at 2 r.
//   With nb odd the last block stands alone: 512 bytes of quants, then its 32 of scales.
// So a tile is read front to back as one stream. (With all of a tile's scales after its
// quants, read beside them, one Zen 4 core streamed tiles from DRAM at 17-23 GB/s, below the
// row layout's 23-29; a plain forward stream runs at 31-33, and these tiles at 29-33.)
//
// kBf16Tiles16 (matmul_bf16_gemm.cc), cols a multiple of 32: vector v = bytes [64 v, 64 v +
// 64) holds column pair v (columns 2v, 2v + 1) of the 16 rows, row r's in dword r
// (vdpbf16ps's weight operand against a broadcast activation pair).
//
// Vectors start on 64-byte boundaries of the tile (a tile is 64-byte aligned when its
// bytes are a multiple of 64 and the data is).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "kernels/cpu/matmul.h"

namespace moe {

inline constexpr size_t kWeightTileRows = 16;
inline constexpr size_t kQ8TileBlockQuantBytes = kWeightTileRows * kQ8_0Block;             // 512
inline constexpr size_t kQ8TileBlockScaleBytes = kWeightTileRows * sizeof(uint16_t);        // 32
inline constexpr size_t kQ8TilePairBytes = 2 * (kQ8TileBlockQuantBytes + kQ8TileBlockScaleBytes);  // 1088

// Where block b (of nb) of a Q8_0 tile keeps its quants and its scales, from the tile's start.
inline size_t Q8TileQuantOffset(size_t b) { return b / 2 * kQ8TilePairBytes + b % 2 * kQ8TileBlockQuantBytes; }
inline size_t Q8TileScaleOffset(size_t b, size_t nb) {
  const size_t in_pair = (b | 1) < nb ? 2 : 1;
  return b / 2 * kQ8TilePairBytes + in_pair * kQ8TileBlockQuantBytes + b % 2 * kQ8TileBlockScaleBytes;
}

// The tiled layout of w's dtype (kRows where there is none: F32, F16, FP8).
WeightLayout TiledLayout(DType dtype);

// Whether w (in the row layout) can be rewritten as tiles.
bool CanTile(const WeightMatrix& w);

// Rewrites the rows of w in place as tiles and returns the matrix in TiledLayout(w.dtype).
// w.data must be writable memory of this process (CanTile(w) must hold).
WeightMatrix TileInPlace(const WeightMatrix& w);

// Rows [r0, r1) of a tiled matrix back in the row layout ((r1 - r0) · RowBytes bytes into
// out): the bit-exact inverse of the tiling.
void UntileRows(const WeightMatrix& w, size_t r0, size_t r1, void* out);

// Rows [r0, r1) of w as a row-layout matrix: w itself (row r0 first) when it is not tiled,
// else the rows untiled into buf. Row i of the result is row r0 + i of w.
WeightMatrix RowMajorRows(const WeightMatrix& w, size_t r0, size_t r1, std::vector<uint8_t>& buf);

}  // namespace moe
