#include "tensor/dtype.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "base/check.h"

namespace moe {

std::string_view GgmlTypeName(uint32_t t) {
  static constexpr std::string_view kNames[] = {
      "F32",  "F16",   "Q4_0",    "Q4_1",   "Q4_2",   "Q4_3",    "Q5_0",   "Q5_1",
      "Q8_0", "Q8_1",  "Q2_K",    "Q3_K",   "Q4_K",   "Q5_K",    "Q6_K",   "Q8_K",
      "IQ2_XXS", "IQ2_XS", "IQ3_XXS", "IQ1_S", "IQ4_NL", "IQ3_S", "IQ2_S", "IQ4_XS",
      "I8",   "I16",   "I32",     "I64",    "F64",    "IQ1_M",   "BF16",   "Q4_0_4_4",
      "Q4_0_4_8", "Q4_0_8_8", "TQ1_0", "TQ2_0", "IQ4_NL_4_4", "IQ4_NL_4_8", "IQ4_NL_8_8",
      "MXFP4"};
  if (t < std::size(kNames)) return kNames[t];
  return "unknown";
}

std::optional<DType> DTypeFromGgml(uint32_t t) {
  switch (t) {
    case 0: return DType::kF32;
    case 1: return DType::kF16;
    case 8: return DType::kQ8_0;
    case 30: return DType::kBF16;
    default: return std::nullopt;
  }
}

std::string_view DTypeName(DType t) {
  switch (t) {
    case DType::kF32: return "f32";
    case DType::kF16: return "f16";
    case DType::kQ8_0: return "q8_0";
    case DType::kBF16: return "bf16";
    case DType::kF8E4M3: return "f8_e4m3";
  }
  return "?";
}

std::optional<DType> DTypeFromName(std::string_view n) {
  for (DType t : {DType::kF32, DType::kF16, DType::kQ8_0, DType::kBF16, DType::kF8E4M3})
    if (DTypeName(t) == n) return t;
  return std::nullopt;
}

size_t BlockSize(DType t) { return t == DType::kQ8_0 ? kQ8_0Block : 1; }

size_t BlockBytes(DType t) {
  switch (t) {
    case DType::kF32: return 4;
    case DType::kF16:
    case DType::kBF16: return 2;
    case DType::kQ8_0: return sizeof(BlockQ8_0);
    case DType::kF8E4M3: return 1;
  }
  return 0;
}

namespace {
// The table behind F8E4M3ToF32, built from the format's definition.
struct F8Table {
  float v[256];
  constexpr F8Table() : v() {
    for (int b = 0; b < 256; ++b) {
      const int e = (b >> 3) & 0xF, m = b & 7;
      float mag;
      if (e == 0xF && m == 7) {
        mag = std::numeric_limits<float>::quiet_NaN();
      } else if (e == 0) {
        mag = static_cast<float>(m) / 8.0f / 64.0f;  // m/8 * 2^-6
      } else {
        mag = 1.0f + static_cast<float>(m) / 8.0f;
        for (int i = 7; i < e; ++i) mag *= 2.0f;
        for (int i = e; i < 7; ++i) mag /= 2.0f;
      }
      v[b] = (b & 0x80) ? -mag : mag;
    }
  }
};
constexpr F8Table kF8TableData;
}  // namespace

const float* const kF8E4M3ToF32 = kF8TableData.v;

uint8_t F32ToF8E4M3(float f) {
  if (std::isnan(f)) return 0x7F;
  const uint8_t sign = std::signbit(f) ? 0x80 : 0;
  const float a = std::min(std::fabs(f), 448.0f);
  // Below 2^-6 e4m3 is subnormal, codes 0..7 in steps of 2^-9 (code 8 is 2^-6): a * 512 is
  // exact, lrint rounds it to the nearest, ties to even (the default rounding mode).
  if (a < 0.015625f) return static_cast<uint8_t>(sign | std::lrint(a * 512.0f));
  // Normal: round float32's 23 mantissa bits to 3, to nearest even; a carry moves into the
  // exponent, as the next code up does. 448 (0x7E) is the largest code a can reach.
  uint32_t u;
  std::memcpy(&u, &a, 4);
  u += 0x7FFFF + ((u >> 20) & 1);
  const uint32_t exponent = (u >> 23) - 127 + 7, mantissa = (u >> 20) & 7;
  return static_cast<uint8_t>(sign | exponent << 3 | mantissa);
}

void DequantizeRowF8(const uint8_t* src, const float* block_scales, size_t n, float* out) {
  for (size_t c = 0; c < n; ++c) out[c] = kF8E4M3ToF32[src[c]] * block_scales[c / kF8Block];
}

// IEEE binary16 <-> binary32, exact for all finite values, subnormals included.
float F16ToF32(uint16_t h) {
  uint32_t sign = (h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1f;
  uint32_t mant = h & 0x3ff;
  uint32_t u;
  if (exp == 0) {
    if (mant == 0) {
      u = sign;
    } else {  // subnormal: normalize
      int e = -1;
      do {
        ++e;
        mant <<= 1;
      } while ((mant & 0x400) == 0);
      u = sign | static_cast<uint32_t>(127 - 15 - e) << 23 | (mant & 0x3ff) << 13;
    }
  } else if (exp == 31) {
    u = sign | 0x7f800000u | mant << 13;
  } else {
    u = sign | (exp + 127 - 15) << 23 | mant << 13;
  }
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

uint16_t F32ToF16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  uint32_t sign = (u >> 16) & 0x8000;
  uint32_t absu = u & 0x7fffffff;
  if (absu >= 0x7f800000) return static_cast<uint16_t>(sign | 0x7c00 | (absu > 0x7f800000 ? 0x200 : 0));
  if (absu >= 0x477ff000) return static_cast<uint16_t>(sign | 0x7c00);  // overflow -> inf
  if (absu < 0x38800000) {  // subnormal or zero in half: round to nearest even
    float a;
    std::memcpy(&a, &absu, 4);
    a = a * 16777216.0f;  // 2^24: units of the smallest half subnormal
    uint32_t m = static_cast<uint32_t>(std::nearbyint(a));
    return static_cast<uint16_t>(sign | m);
  }
  uint32_t mant = absu & 0x7fffff;
  uint32_t exp = (absu >> 23) - 127 + 15;
  uint32_t h = exp << 10 | mant >> 13;
  uint32_t rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest == 0x1000 && (h & 1))) ++h;
  return static_cast<uint16_t>(sign | h);
}

void DequantizeRow(DType t, const void* src, size_t n, float* out) {
  switch (t) {
    case DType::kF32:
      std::memcpy(out, src, n * 4);
      return;
    case DType::kF16: {
      auto* p = static_cast<const uint16_t*>(src);
      for (size_t i = 0; i < n; ++i) out[i] = F16ToF32(p[i]);
      return;
    }
    case DType::kBF16: {
      auto* p = static_cast<const uint16_t*>(src);
      for (size_t i = 0; i < n; ++i) out[i] = Bf16ToF32(p[i]);
      return;
    }
    case DType::kQ8_0: {
      auto* b = static_cast<const BlockQ8_0*>(src);
      for (size_t k = 0; k < n / kQ8_0Block; ++k) {
        float d = F16ToF32(b[k].d);
        for (size_t i = 0; i < kQ8_0Block; ++i) out[k * kQ8_0Block + i] = d * b[k].qs[i];
      }
      return;
    }
    case DType::kF8E4M3: {
      auto* p = static_cast<const uint8_t*>(src);
      for (size_t i = 0; i < n; ++i) out[i] = kF8E4M3ToF32[p[i]];
      return;
    }
  }
}

void QuantizeRow(DType t, const float* src, size_t n, void* out) {
  switch (t) {
    case DType::kF32:
      std::memcpy(out, src, n * 4);
      return;
    case DType::kF16: {
      auto* p = static_cast<uint16_t*>(out);
      for (size_t i = 0; i < n; ++i) p[i] = F32ToF16(src[i]);
      return;
    }
    case DType::kBF16: {
      auto* p = static_cast<uint16_t*>(out);
      for (size_t i = 0; i < n; ++i) p[i] = F32ToBf16(src[i]);
      return;
    }
    case DType::kQ8_0: {
      // As ggml's quantize_row_q8_0_ref: d = max|x| / 127, q = round(x / d).
      MOE_CHECK(n % kQ8_0Block == 0);
      auto* b = static_cast<BlockQ8_0*>(out);
      for (size_t k = 0; k < n / kQ8_0Block; ++k) {
        const float* x = src + k * kQ8_0Block;
        float amax = 0;
        for (size_t i = 0; i < kQ8_0Block; ++i) amax = std::max(amax, std::fabs(x[i]));
        float d = amax / 127.0f;
        float id = d != 0 ? 1.0f / d : 0.0f;
        b[k].d = F32ToF16(d);
        for (size_t i = 0; i < kQ8_0Block; ++i)
          b[k].qs[i] = static_cast<int8_t>(std::lround(x[i] * id));
      }
      return;
    }
    case DType::kF8E4M3: {
      auto* p = static_cast<uint8_t*>(out);
      for (size_t i = 0; i < n; ++i) p[i] = F32ToF8E4M3(src[i]);
      return;
    }
  }
}

}  // namespace moe
