// Internal to the kernels: the AVX-512 intrinsic bodies of the fast path of matmul.h
// (matmul_avx512.cc). Call only when HasAvx512Dot() is true.
#pragma once

#include <cstddef>

#include "kernels/cpu/matmul.h"

namespace moe::detail {

// Q8_0 weights x Q8_0 activations with vpdpbusd (AVX512_VNNI).
void MatMulRowsQ8_0Avx512(const WeightMatrix& w, const QuantizedActs& xq, float* y,
                          size_t y_stride, size_t row_begin, size_t row_end);
// BF16 weights x bf16 activations with vdpbf16ps (AVX512_BF16).
void MatMulRowsBf16Avx512(const WeightMatrix& w, const QuantizedActs& xq, float* y,
                          size_t y_stride, size_t row_begin, size_t row_end);
// FP8 e4m3 weights (block scales) x bf16 activations with vdpbf16ps (AVX512_BF16).
void MatMulRowsF8Avx512(const WeightMatrix& w, const QuantizedActs& xq, float* y,
                        size_t y_stride, size_t row_begin, size_t row_end);
// CPUID (and OS state) check for every extension the two bodies use.
bool CpuHasAvx512Dot();

}  // namespace moe::detail
