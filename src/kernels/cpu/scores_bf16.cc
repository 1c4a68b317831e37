// Attention scores of a GQA group over a bf16 cache with AVX512_BF16: y[t, r] = q_t · k_r for
// a KV head's few query heads t and its cached keys r. The exact path widens every key to
// float and spends one FMA per 16 products per head. The bf16 GEMM needs 16 query rows per
// tile (MLA's heads fill one) and a group has 4 or 8, and packing the keys as its tile costs
// as much as the products.
//
// Here each 128-bit lane of a vector belongs to one query, 4 queries per vector: lane h holds
// query h's 8 columns 8j..8j+7 (4 bf16 pairs), and the key's same 8 columns are broadcast to
// the four lanes (one vbroadcasti32x4 load), so every vdpbf16ps does 32 products whatever the
// group size. Each dword k of lane h sums the pairs 4j + k of the columns; after the last
// column the four dwords are added within the lane, for 4 keys at once by a 4 x 4 transpose.
//
// Every score is one fixed float32 sum: two chains (even and odd j), their sum, then the
// dwords (0 + 2) + (1 + 3). It depends on no other query or key in the call, so prefill and
// decode, and any chunking of the cache, give a row the same scores.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "kernels/cpu/matmul_avx512.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#define MOE_SCORES_BF16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,fma")))

namespace moe::detail {
namespace {

constexpr size_t kLanes = 4;   // queries per vector (128-bit lanes)
constexpr size_t kKeys = 4;    // keys per step (the transpose's width)
constexpr size_t kGroupCols = 8;  // bf16 columns per lane and step

// Per set of 4 queries and column group j, lane h = query 4s + h's columns 8j..8j+7 (zero past
// the last query).
struct alignas(64) QueryVec {
  uint16_t v[32];
};

// acc[s][p][c]: set s, key p, chain c (even or odd column groups).
template <size_t kS>
MOE_SCORES_BF16 void Step(const QueryVec* q, size_t groups, const uint16_t* const (&keys)[kKeys], float* y,
                          size_t y_stride, size_t n_queries, size_t s0, size_t p0, size_t n_keys) {
  __m512 acc[kS][kKeys][2];
#pragma GCC unroll 2
  for (size_t s = 0; s < kS; ++s)
#pragma GCC unroll 4
    for (size_t p = 0; p < kKeys; ++p) acc[s][p][0] = acc[s][p][1] = _mm512_setzero_ps();
  for (size_t j = 0; j < groups; j += 2) {
#pragma GCC unroll 2
    for (size_t c = 0; c < 2; ++c) {
      if (j + c >= groups) break;
      __m512bh k[kKeys];
#pragma GCC unroll 4
      for (size_t p = 0; p < kKeys; ++p)
        k[p] = reinterpret_cast<__m512bh>(
            _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(keys[p] + (j + c) * kGroupCols))));
#pragma GCC unroll 2
      for (size_t s = 0; s < kS; ++s) {
        const __m512bh qv = reinterpret_cast<__m512bh>(_mm512_load_si512(q[(s0 + s) * groups + j + c].v));
#pragma GCC unroll 4
        for (size_t p = 0; p < kKeys; ++p) acc[s][p][c] = _mm512_dpbf16_ps(acc[s][p][c], qv, k[p]);
      }
    }
  }
#pragma GCC unroll 2
  for (size_t s = 0; s < kS; ++s) {
    __m512 x[kKeys];
#pragma GCC unroll 4
    for (size_t p = 0; p < kKeys; ++p) x[p] = _mm512_add_ps(acc[s][p][0], acc[s][p][1]);
    // In each lane: [x0 x1 x2 x3] of keys a..d -> [a b c d] sums, each (x0 + x2) + (x1 + x3).
    const __m512 ab = _mm512_add_ps(_mm512_unpacklo_ps(x[0], x[1]), _mm512_unpackhi_ps(x[0], x[1]));
    const __m512 cd = _mm512_add_ps(_mm512_unpacklo_ps(x[2], x[3]), _mm512_unpackhi_ps(x[2], x[3]));
    const __m512 r = _mm512_add_ps(_mm512_shuffle_ps(ab, cd, 0x44), _mm512_shuffle_ps(ab, cd, 0xEE));
    // Lane h to query t0 + h's scores of keys p0..: masked stores of 4 floats (fewer at the
    // end of the keys), none for the padding queries of the last set. (Not vcompressps to
    // memory, which is microcoded on Zen 4.)
    const __mmask8 m = static_cast<__mmask8>((1u << n_keys) - 1);
    const size_t t0 = (s0 + s) * kLanes;
    float* yt = y + t0 * y_stride + p0;
    if (t0 + 0 < n_queries) _mm_mask_storeu_ps(yt, m, _mm512_castps512_ps128(r));
    if (t0 + 1 < n_queries) _mm_mask_storeu_ps(yt + y_stride, m, _mm512_extractf32x4_ps(r, 1));
    if (t0 + 2 < n_queries) _mm_mask_storeu_ps(yt + 2 * y_stride, m, _mm512_extractf32x4_ps(r, 2));
    if (t0 + 3 < n_queries) _mm_mask_storeu_ps(yt + 3 * y_stride, m, _mm512_extractf32x4_ps(r, 3));
  }
}

}  // namespace

void GroupScoresBf16(const WeightMatrix& keys, const QuantizedActs& queries, float* y, size_t y_stride) {
  const size_t cols = keys.cols, groups = cols / kGroupCols, n = queries.n_tokens;
  const size_t sets = (n + kLanes - 1) / kLanes;
  thread_local std::vector<QueryVec> q;
  thread_local std::vector<uint16_t> zero;
  q.assign(sets * groups, QueryVec{});
  for (size_t t = 0; t < n; ++t) {
    const auto* x = static_cast<const uint16_t*>(queries.Row(t));
    for (size_t j = 0; j < groups; ++j)
      std::memcpy(q[t / kLanes * groups + j].v + t % kLanes * kGroupCols, x + j * kGroupCols, kGroupCols * 2);
  }
  if (zero.size() < cols) zero.resize(cols);  // zero keys past the last (never written)
  for (size_t p0 = 0; p0 < keys.rows; p0 += kKeys) {
    const size_t nk = keys.rows - p0 < kKeys ? keys.rows - p0 : kKeys;
    const uint16_t* k[kKeys];
    for (size_t p = 0; p < kKeys; ++p) k[p] = p < nk ? static_cast<const uint16_t*>(keys.Row(p0 + p)) : zero.data();
    size_t s = 0;
    for (; s + 2 <= sets; s += 2) Step<2>(q.data(), groups, k, y, y_stride, n, s, p0, nk);
    if (s < sets) Step<1>(q.data(), groups, k, y, y_stride, n, s, p0, nk);
  }
}

}  // namespace moe::detail

#else  // not x86-64 GCC/Clang: no intrinsic path

namespace moe::detail {
void GroupScoresBf16(const WeightMatrix&, const QuantizedActs&, float*, size_t) {}
}  // namespace moe::detail

#endif
