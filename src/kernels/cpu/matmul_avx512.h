// Internal to the kernels: the AVX-512 intrinsic bodies of the fast path of matmul.h
// (matmul_avx512.cc). Call only when HasAvx512Dot() is true.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/cpu/matmul.h"

namespace moe::detail {

// Q8_0 weights x Q8_0 activations with vpdpbusd (AVX512_VNNI).
void MatMulRowsQ8_0Avx512(const WeightMatrix& w, const QuantizedActs& xq, float* y,
                          size_t y_stride, size_t row_begin, size_t row_end);
// The same product on rows interleaved 16 per vector (matmul_q8_gemm.cc: a packed GEMM for 3
// or more tokens, blocks transposed in registers for 1 or 2); row_end - row_begin must be a
// multiple of 16.
void MatMulRowsQ8_0Gemm(const WeightMatrix& w, const QuantizedActs& xq, float* y, size_t y_stride,
                        size_t row_begin, size_t row_end);
// The same product on weights tiled at load (WeightLayout::kQ8_0Tiles16, matmul_q8_tiled.cc):
// every token count reads the tiles as stored; row_begin and row_end are multiples of 16.
void MatMulRowsQ8_0Tiled(const WeightMatrix& w, const QuantizedActs& xq, float* y, size_t y_stride,
                         size_t row_begin, size_t row_end);
// BF16 weights x bf16 activations with vdpbf16ps (AVX512_BF16) on rows interleaved 16 per
// vector (matmul_bf16_gemm.cc: a packed GEMM from 4 tokens on, blocks transposed in registers
// below), or straight on weights tiled at load (WeightLayout::kBf16Tiles16, row_begin and
// row_end multiples of 16); any rows and columns.
void MatMulRowsBf16Gemm(const WeightMatrix& w, const QuantizedActs& xq, float* y, size_t y_stride,
                        size_t row_begin, size_t row_end);
// Whether vdpbf16ps issues at the FMA's instruction rate (twice its products), so that bf16
// activations beat the exact path: AMD (Zen 4, 5), not Intel.
bool CpuBf16DotAtTwiceFmaRate();
// matmul_q8_transposed.cc: MatMulTransposed for Q8_0 weights with vpdpbusd (see
// MatMulTransposedQuantizedActs); w.cols is a multiple of 32 by the format.
void MatMulTransposedQ8_0Vnni(const WeightMatrix& w, const float* x, size_t x_stride, size_t n_tokens,
                              float* y, size_t y_stride);
// matmul_bf16_transposed.cc: MatMulTransposed for BF16 weights in rows with vdpbf16ps, x
// rounded to bf16 (see MatMulTransposedQuantizedActs). Call only where
// CpuBf16DotAtTwiceFmaRate().
void MatMulTransposedBf16(const WeightMatrix& w, const float* x, size_t x_stride, size_t n_tokens, float* y,
                          size_t y_stride);
// scores_bf16.cc: GroupScores with vdpbf16ps (bf16 keys, cols a multiple of 8). Call only
// where CpuBf16DotAtTwiceFmaRate().
void GroupScoresBf16(const WeightMatrix& keys, const QuantizedActs& queries, float* y, size_t y_stride);
// CPUID (and OS state) check for every extension the bodies above use.
bool CpuHasAvx512Dot();

// matmul_f8_bf16.cc: FP8 e4m3 weights x float32 activations (ActsDType kF32 on CPUs without
// AVX512_FP16), split into bf16 pairs, with AVX512_BF16 vdpbf16ps and AVX512_VBMI vpermi2b.
// Call only when CpuHasF8Bf16().
void MatMulRowsF8Bf16(const WeightMatrix& w, const QuantizedActs& xq, float* y, size_t y_stride,
                      size_t row_begin, size_t row_end);
bool CpuHasF8Bf16();

// matmul_f8_fp16.cc: FP8 e4m3 weights x fp16 activations (ActsDType kF16) with AVX512_FP16.
// Call only when CpuHasAvx512Fp16().
void MatMulRowsF8Fp16(const WeightMatrix& w, const QuantizedActs& xq, float* y, size_t y_stride,
                      size_t row_begin, size_t row_end);
// cols floats of x times `scale` rounded to fp16 (to nearest even) into out, with vcvtps2ph;
// false (nothing written) where the CPU lacks AVX512_FP16.
bool ToF16RowAvx512(const float* x, size_t cols, float scale, uint16_t* out);
bool CpuHasAvx512Fp16();

}  // namespace moe::detail
