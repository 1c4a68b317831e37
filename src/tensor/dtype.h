// Element types of stored tensors and their byte layout. Values are GGUF's ggml_type ids so
// the reader maps them 1:1; quantized types keep GGUF names.
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
};

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

// Dequantizes one row of n elements of type t into out (n floats).
void DequantizeRow(DType t, const void* src, size_t n, float* out);
// Quantizes n floats into one row of type t (n a multiple of the block size).
void QuantizeRow(DType t, const float* src, size_t n, void* out);

}  // namespace moe
