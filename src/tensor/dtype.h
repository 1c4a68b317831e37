// Element types of stored tensors and their byte layout. Values are GGUF's ggml_type ids so
// the reader maps them 1:1; quantized types keep GGUF names. Types GGUF cannot hold (FP8 from
// safetensors) get ids far outside ggml's range, so they never pass for a ggml type.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string_view>

namespace moe {

enum class DType : uint32_t {
  kF32 = 0,
  kF16 = 1,
  kQ8_0 = 8,
  kBF16 = 30,
  // float8 e4m3fn (OCP FP8 E4M3 as torch.float8_e4m3fn), one byte per weight, always paired
  // with a float32 block-scale grid (DeepSeek-V3 "weight_scale_inv", see kF8Block). Not a
  // ggml type: DTypeFromGgml never returns it and the GGUF writer refuses it.
  kF8E4M3 = 0x10000 + 1,
};

// FP8 block scaling (DeepSeek-V3 quantization_config.weight_block_size = [128, 128]): the real
// weight is W[r][c] = e4m3(W8[r][c]) * scale[r / 128][c / 128], scale float32 of shape
// [ceil(rows / 128), ceil(cols / 128)]; the last block row/column may be partial.
inline constexpr size_t kF8Block = 128;

// Q8_0: blocks of 32 weights sharing one fp16 scale; value = d * qs[i].
inline constexpr size_t kQ8_0Block = 32;
struct BlockQ8_0 {
  uint16_t d;  // fp16 scale
  int8_t qs[kQ8_0Block];
};
static_assert(sizeof(BlockQ8_0) == 34);

// GGUF name of any ggml type id ("Q3_K"), so unsupported types can be named in errors.
std::string_view GgmlTypeName(uint32_t ggml_type);
// The supported dtype for a ggml type id, or nullopt.
std::optional<DType> DTypeFromGgml(uint32_t ggml_type);
std::string_view DTypeName(DType t);
std::optional<DType> DTypeFromName(std::string_view name);  // "f32", "bf16", "q8_0", ...

// Elements per block and bytes per block (1 element blocks for plain floats).
size_t BlockSize(DType t);
size_t BlockBytes(DType t);
// Bytes of one row of n elements; n must be a multiple of BlockSize (checked by callers).
inline size_t RowBytes(DType t, size_t n) { return n / BlockSize(t) * BlockBytes(t); }

// ---- scalar conversions (the reference; kernels have vector versions) ----
inline float Bf16ToF32(uint16_t h) {
  uint32_t u = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
// Round to nearest even, NaN kept quiet.
inline uint16_t F32ToBf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffff) > 0x7f800000) return static_cast<uint16_t>((u >> 16) | 0x40);
  u += 0x7fff + ((u >> 16) & 1);
  return static_cast<uint16_t>(u >> 16);
}
float F16ToF32(uint16_t h);
uint16_t F32ToF16(float f);

// e4m3fn -> float32 for all 256 codes: sign, 4 exponent bits (bias 7), 3 mantissa bits;
// exponent 0 is subnormal (m/8 * 2^-6), 0x7F/0xFF are NaN, there are no infinities.
extern const float* const kF8E4M3ToF32;  // 256 entries
inline float F8E4M3ToF32(uint8_t b) { return kF8E4M3ToF32[b]; }
// float32 -> e4m3fn, round to nearest even, saturating to ±448 (NaN stays NaN): for tests and
// for writing FP8 test checkpoints.
uint8_t F32ToF8E4M3(float f);

// Dequantizes one row of n elements of type t into out (n floats). FP8 rows decode to the
// unscaled e4m3 values; use DequantizeRowF8 to apply the block scales.
void DequantizeRow(DType t, const void* src, size_t n, float* out);
// One FP8 row with its block scales: out[c] = float32(e4m3(src[c]) * block_scales[c / 128]),
// the product rounded once to float32 (as the reference dequantizer).
void DequantizeRowF8(const uint8_t* src, const float* block_scales, size_t n, float* out);
// Quantizes n floats into one row of type t (n a multiple of the block size).
void QuantizeRow(DType t, const float* src, size_t n, void* out);

}  // namespace moe
