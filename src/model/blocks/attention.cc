#include "model/blocks/attention.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <numeric>
#include <optional>
#include <vector>

#include "base/allocator.h"

namespace moe {

double YarnMscale(double factor, double m) {
  return factor <= 1.0 ? 1.0 : 0.1 * m * std::log(factor) + 1.0;
}

std::vector<float> RopeFrequencies(size_t dims, double base, const RopeScaling& s,
                                   const std::vector<float>& freq_factors) {
  const size_t half = dims / 2;
  std::vector<float> f(half);
  for (size_t i = 0; i < half; ++i) {
    double freq = std::pow(base, -2.0 * static_cast<double>(i) / static_cast<double>(dims));
    if (i < freq_factors.size() && freq_factors[i] > 0) freq /= freq_factors[i];
    f[i] = static_cast<float>(freq);
  }
  if (s.type == "yarn" && s.factor > 1.0) {
    // Pairs that rotate fewer than beta_slow times over the original context are
    // interpolated (θ/factor), those rotating more than beta_fast times are kept, with a
    // linear ramp between (DeepSeek-V3 find_correction_range / linear_ramp_factor).
    auto correction_dim = [&](double rotations) {
      return dims * std::log(s.original_max_position_embeddings / (rotations * 2 * M_PI)) /
             (2 * std::log(base));
    };
    double low = std::max(std::floor(correction_dim(s.beta_fast)), 0.0);
    double high = std::min(std::ceil(correction_dim(s.beta_slow)), static_cast<double>(dims - 1));
    if (low == high) high += 0.001;
    for (size_t i = 0; i < half; ++i) {
      double ramp = std::clamp((static_cast<double>(i) - low) / (high - low), 0.0, 1.0);
      double smooth = 1.0 - ramp;
      double freq = f[i];
      f[i] = static_cast<float>(freq / s.factor * (1 - smooth) + freq * smooth);
    }
  }
  return f;
}

namespace {

// Transient buffers: every element is written before it is read (base/allocator.h).
using Floats = UnfilledFloats;

// Chunked attention over the cache (flash-decoding): a chunk of kChunk cached positions gives,
// for all H query heads at once, each head's max score m, Σ e^(s - m) and the e^(s - m)-
// weighted sum of the cached vectors (MLA's latents, GQA's values); a row's chunks then merge
// in position order. All heads share one pass over the chunk, so each cached position is read
// once per row, whole and in order (at depth the cache is the large operand; a pass per head
// or KV head would read it strided, or several times). The chunk size is fixed and the merge
// sequential, so a row's arithmetic depends neither on the batch nor on the threads: decode
// spreads one row's chunks over the threads, prefill gives each thread whole rows, and both
// merge the same partials in the same order. 128 positions: decode at depth 2048 of
// deepseek-v3-bench Q8_0 ran 1.04-1.12x as fast as with 64 (fewer softmax passes, merges and
// small products per position), and no slower with 256.
constexpr size_t kChunk = 128;

struct Partial {  // one chunk (or a merged run of chunks) of one row
  float* m;       // [H] max score
  float* s;       // [H] Σ e^(score - m)
  float* o;       // [H, C] Σ e^(score - m) · cached vector
};

// Whether attention over this batch's cache runs in bf16 dot products: the fast path, a bf16
// cache, and a CPU where vdpbf16ps is fast (queries are then rounded to bf16 once per layer).
bool Bf16CacheDots(const AttentionParams& p, size_t n, const BatchRows& rows) {
  return p.quantized_acts && n > 0 && rows.kv[0]->dtype == DType::kBF16 && UsesQuantizedActs(DType::kBF16);
}

// Per head h in [h0, h1): scale the chunk's cnt scores, then m[h] and s[h] from their
// exponentials, which replace them.
void ChunkSoftmax(size_t h0, size_t h1, size_t cnt, float scale, float* scores, const Partial& out) {
  for (size_t h = h0; h < h1; ++h) {
    float* sc = scores + h * cnt;
    for (size_t t = 0; t < cnt; ++t) sc[t] *= scale;
    out.s[h] = ExpShiftInPlace(sc, cnt, &out.m[h]);
  }
}

// The queries of a bf16 cache's fast path, rounded to bf16 once per layer: the absorbed
// [n, H, C] and the rotary parts [n, H, rope].
struct Bf16Queries {
  std::vector<uint16_t> lat, pe;
};

// MLA, positions [p0, p0 + cnt) for row i, heads [h0, h1). A head's arithmetic does not
// depend on which other heads share the call (the products' per-token results do not
// depend on their batch), so the heads may be split over threads.
//
// With `bq` (a bf16 cache on the fast path) the scores are bf16 dot products with the roles
// of a linear layer swapped: the heads' queries are the "weights" (one tile of up to 16
// rows, packed once per chunk) and the cached positions the "tokens", each of whose
// column pairs is broadcast from the cache as stored, so no cached vector is transposed;
// scores come out [position, head] and are turned around for the softmax. The weighted sum
// rounds e^(s - m) to bf16 for vdpbf16ps. In float32 both products ran at the FMA rate and
// took ~70% of deepseek-v3-bench Q8_0 decode at depth 4096.
void MlaChunk(const ModelConfig& cfg, const AttentionParams& p, const float* q, const float* q_lat,
              const Bf16Queries* bq, size_t i, const KvLayer& kv, size_t p0, size_t cnt, size_t h0, size_t h1,
              float* scores, float* pe, const Partial& out) {
  const size_t H = cfg.num_attention_heads, nope = cfg.qk_nope_head_dim, rope = cfg.qk_rope_head_dim;
  const size_t C = cfg.kv_lora_rank, qk = nope + rope, nh = h1 - h0;
  const WeightMatrix latent = kv.RowsK(p0, cnt, 0, C), k_pe = kv.RowsV(p0, cnt, 0, rope);
  if (bq == nullptr) {
    MatMulRows(latent, q_lat + (i * H + h0) * C, C, nh, scores + h0 * cnt, cnt, 0, cnt);
    MatMulRows(k_pe, q + (i * H + h0) * qk + nope, qk, nh, pe + h0 * cnt, cnt, 0, cnt);
    for (size_t t = h0 * cnt; t < h1 * cnt; ++t) scores[t] += pe[t];
  } else {
    // [position, head] into pe (2·H·kChunk floats: scores, then their rotary parts).
    const WeightMatrix ql{DType::kBF16, bq->lat.data() + (i * H + h0) * C, nh, C, C * sizeof(uint16_t)};
    const WeightMatrix qp{DType::kBF16, bq->pe.data() + (i * H + h0) * rope, nh, rope, rope * sizeof(uint16_t)};
    const QuantizedActs lat_pos{DType::kBF16, latent.data, cnt, C, latent.row_stride, true};
    const QuantizedActs pe_pos{DType::kBF16, k_pe.data, cnt, rope, k_pe.row_stride, true};
    float* st = pe;
    float* pt = pe + cnt * nh;
    MatMulRowsQuantizedActs(ql, lat_pos, st, nh, 0, nh);
    MatMulRowsQuantizedActs(qp, pe_pos, pt, nh, 0, nh);
    for (size_t h = 0; h < nh; ++h)
      for (size_t t = 0; t < cnt; ++t) scores[(h0 + h) * cnt + t] = st[t * nh + h] + pt[t * nh + h];
  }
  ChunkSoftmax(h0, h1, cnt, p.scale, scores, out);
  // o[h] = Σ_t e_t[h] · latent_t: the chunk's latents (rows) times the heads' weights, as a
  // register-tiled product (each latent vector feeds several heads' FMAs).
  if (bq == nullptr) {
    MatMulTransposed(latent, scores + h0 * cnt, cnt, nh, out.o + h0 * C, C);
  } else {
    MatMulTransposedQuantizedActs(latent, scores + h0 * cnt, cnt, nh, out.o + h0 * C, C);
  }
}

// GQA, positions [p0, p0 + cnt) for row i, query heads [h0, h1) (whole KV groups): per KV
// head, the query heads sharing it score against its keys as one small product, and weight
// its values as another (each key and value vector feeds every head of the group). The
// chunk's keys are consecutive cache rows, so after the first KV head's pass the others' come
// from L2. With `qb` (the queries rounded to bf16: a bf16 cache on the fast path) the scores
// are GroupScores' bf16 dot products, 4 query heads per vector.
void GqaChunk(const ModelConfig& cfg, const AttentionParams& p, const float* q, const uint16_t* qb, size_t i,
              const KvLayer& kv, size_t p0, size_t cnt, size_t h0, size_t h1, float* scores,
              const Partial& out) {
  const size_t H = cfg.num_attention_heads, KV = cfg.num_key_value_heads, D = cfg.head_dim;
  const size_t group = H / KV, g0 = h0 / group, g1 = h1 / group;
  for (size_t g = g0; g < g1; ++g) {
    const WeightMatrix keys = kv.RowsK(p0, cnt, g * D, D);
    if (qb != nullptr) {
      const QuantizedActs qa{DType::kBF16, qb + (i * H + g * group) * D, group, D, D * sizeof(uint16_t)};
      GroupScores(keys, qa, scores + g * group * cnt, cnt);
    } else {
      MatMulRows(keys, q + (i * H + g * group) * D, D, group, scores + g * group * cnt, cnt, 0, cnt);
    }
  }
  ChunkSoftmax(h0, h1, cnt, p.scale, scores, out);
  for (size_t g = g0; g < g1; ++g) {
    const WeightMatrix values = kv.RowsV(p0, cnt, g * D, D);
    MatMulTransposed(values, scores + g * group * cnt, cnt, group, out.o + g * group * D, D);
  }
}

// acc ← acc ⊕ part: both rescaled to the larger max (online softmax), per head.
void Merge(size_t H, size_t C, const Partial& acc, const Partial& part) {
  for (size_t h = 0; h < H; ++h) {
    const float m = std::max(acc.m[h], part.m[h]);
    const float a = std::exp(acc.m[h] - m), b = std::exp(part.m[h] - m);
    acc.m[h] = m;
    acc.s[h] = acc.s[h] * a + part.s[h] * b;
    MixScaled(a, acc.o + h * C, b, part.o + h * C, C);
  }
}

// A chunk computation: row i, positions [p0, p0 + cnt), heads [h0, h1), `scratch` of at
// least 3·H·kChunk floats, result into those heads of `out`.
using ChunkFn = std::function<void(size_t i, size_t p0, size_t cnt, size_t h0, size_t h1, float* scratch,
                                   const Partial& out)>;

// out[i, h] = softmax(scores) · cached vectors ([n, H, C]) for every row, in chunks of kChunk.
// Heads split into parts of whole multiples of head_step (GQA: a KV group).
void OverCache(size_t H, size_t head_step, size_t C, size_t n, const BatchRows& rows, const ChunkFn& chunk,
               float* out, ThreadPool& pool) {
  const size_t part_floats = H * (2 + C);
  auto view = [&](float* base) { return Partial{base, base + H, base + 2 * H}; };
  auto chunks = [&](size_t i) { return (rows.pos[i] + 1 + kChunk - 1) / kChunk; };
  auto finish = [&](size_t i, const Partial& acc) {
    for (size_t h = 0; h < H; ++h) {
      const float inv = 1.0f / acc.s[h];
      float* dst = out + (i * H + h) * C;
      for (size_t c = 0; c < C; ++c) dst[c] = acc.o[h * C + c] * inv;
    }
  };
  auto run_chunk = [&](size_t i, size_t c, size_t h0, size_t h1, std::vector<float>& scratch, const Partial& part) {
    const size_t len = rows.pos[i] + 1, p0 = c * kChunk;
    scratch.resize(3 * H * kChunk);
    chunk(i, p0, std::min(kChunk, len - p0), h0, h1, scratch.data(), part);
  };
  const size_t threads = static_cast<size_t>(pool.size());
  if (n >= 2 * threads) {
    // Prefill: whole rows per thread, merging as the chunks come. A row costs its number of
    // chunks (causal: the last row of a 512-token prompt has 8 times the first's), so threads
    // claim rows longest first from a shared counter. Halving the rows statically gave the
    // second thread 3 times the first's work: in deepseek-v3-bench Q8_0 pp512 the calling
    // thread waited here for a quarter of the time.
    std::vector<size_t> order(n);
    std::iota(order.begin(), order.end(), size_t{0});
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return chunks(a) > chunks(b); });
    std::vector<std::vector<float>> scratch(threads), acc(threads, std::vector<float>(part_floats)),
        part(threads, std::vector<float>(part_floats));
    pool.ForEachItem(n, [&](size_t claimed, int t) {
      const size_t i = order[claimed];
      float* a = acc[t].data();
      for (size_t c = 0, k = chunks(i); c < k; ++c) {
        run_chunk(i, c, 0, H, scratch[t], view(c == 0 ? a : part[t].data()));
        if (c > 0) Merge(H, C, view(a), view(part[t].data()));
      }
      finish(i, view(a));
    });
    return;
  }
  // Decode: every (row, chunk) is a job with its own partial, in waves of a bounded number of
  // jobs (for DeepSeek-V3's MLA, H·C floats are 256 KB per chunk), all waves the same size (33
  // chunks made a wave of 32 and one of 1, which left a thread idle); after each wave the
  // partials merge into their rows in position order, as in the prefill layout. With fewer
  // jobs than twice the threads (2 threads: one sequence below depth 384) each job's heads
  // split into parts, one work item each: a single chunk kept the other threads waiting
  // while the caller ran all heads. In qwen3moe-bench Q8_0 decode (tg256) the split took the
  // worker's idle samples from 11% to 6% of the expert products' and the caller's wait from
  // 5.3% to 2.7%.
  std::vector<size_t> first(n + 1, 0);
  for (size_t i = 0; i < n; ++i) first[i + 1] = first[i] + chunks(i);
  const size_t max_wave = 16 * threads, waves = (first[n] + max_wave - 1) / max_wave;
  const size_t wave = waves == 0 ? 1 : (first[n] + waves - 1) / waves;
  const size_t steps = H / head_step;
  const size_t wanted = first[n] == 0 ? 1 : std::min(steps, (2 * threads + first[n] - 1) / first[n]);
  const size_t part_steps = (steps + wanted - 1) / wanted, n_parts = (steps + part_steps - 1) / part_steps;
  const size_t part_heads = part_steps * head_step;
  std::vector<float> accs(n * part_floats), parts(std::min(wave, first[n]) * part_floats);
  for (size_t w0 = 0; w0 < first[n]; w0 += wave) {
    const size_t w1 = std::min(first[n], w0 + wave);
    pool.ParallelFor((w1 - w0) * n_parts, 1, [&](size_t b, size_t e) {
      std::vector<float> scratch;
      size_t i = std::upper_bound(first.begin(), first.end(), w0 + b / n_parts) - first.begin() - 1;
      for (size_t item = b; item < e; ++item) {
        const size_t job = w0 + item / n_parts, h0 = item % n_parts * part_heads;
        while (job >= first[i + 1]) ++i;
        const size_t c = job - first[i];  // a row's first chunk starts its accumulator
        run_chunk(i, c, h0, std::min(H, h0 + part_heads), scratch,
                  view(c == 0 ? accs.data() + i * part_floats : parts.data() + (job - w0) * part_floats));
      }
    });
    for (size_t i = 0, job = w0; job < w1; ++job) {
      while (job >= first[i + 1]) ++i;
      if (job > first[i]) Merge(H, C, view(accs.data() + i * part_floats), view(parts.data() + (job - w0) * part_floats));
    }
  }
  for (size_t i = 0; i < n; ++i) finish(i, view(accs.data() + i * part_floats));
}

}  // namespace

void GqaAttention(const ModelConfig& cfg, const GqaWeights& w, const AttentionParams& p,
                  const float* x, size_t n, const BatchRows& rows, float* out, ThreadPool& pool) {
  const size_t H = cfg.num_attention_heads, KV = cfg.num_key_value_heads, D = cfg.head_dim;
  const size_t rope_dims = cfg.rope_dim ? cfg.rope_dim : D;
  Floats q(n * H * D), k(n * KV * D), v(n * KV * D), attn(n * H * D);
  Linear(w.q, x, n, q.data(), pool, p.quantized_acts);
  Linear(w.k, x, n, k.data(), pool, p.quantized_acts);
  Linear(w.v, x, n, v.data(), pool, p.quantized_acts);
  const float eps = static_cast<float>(cfg.rms_norm_eps);
  for (size_t i = 0; i < n; ++i) {
    float* qi = q.data() + i * H * D;
    float* ki = k.data() + i * KV * D;
    if (cfg.qk_norm) {
      RmsNormRows(qi, w.q_norm.data(), H, D, eps, qi);
      RmsNormRows(ki, w.k_norm.data(), KV, D, eps, ki);
    }
    const auto pos = static_cast<int64_t>(rows.pos[i]);
    ApplyRope(qi, H, D, rope_dims, p.rope_style, p.rope_freq, pos);
    ApplyRope(ki, KV, D, rope_dims, p.rope_style, p.rope_freq, pos);
    rows.kv[i]->StoreK(pos, ki);
    rows.kv[i]->StoreV(pos, v.data() + i * KV * D);
  }
  std::vector<uint16_t> qb;
  if (Bf16CacheDots(p, n, rows)) {
    qb.resize(n * H * D);
    QuantizeActivations(DType::kBF16, q.data(), D, n * H, D, qb.data());
  }
  OverCache(H, H / KV, D, n, rows,
            [&](size_t i, size_t p0, size_t cnt, size_t h0, size_t h1, float* scratch, const Partial& part) {
              GqaChunk(cfg, p, q.data(), qb.empty() ? nullptr : qb.data(), i, *rows.kv[i], p0, cnt, h0, h1, scratch,
                       part);
            },
            attn.data(), pool);
  Linear(w.o, attn.data(), n, out, pool, p.quantized_acts);
}

namespace {

// y[t] = W · x[t] for one head's matrix W (all its rows) over n tokens with strides: on the
// fast path the rows of x are rounded as for any linear layer (`rounded` holds them).
void RowsProduct(const WeightMatrix& w, const float* x, size_t x_stride, size_t n, float* y, size_t y_stride,
                 bool fast, std::vector<uint8_t>& rounded) {
  if (!fast) {
    MatMulRows(w, x, x_stride, n, y, y_stride, 0, w.rows);
    return;
  }
  const DType ad = ActsDType(w.dtype);
  rounded.resize(n * ActsRowBytes(ad, w.cols));
  const QuantizedActs acts = QuantizeActivations(ad, x, x_stride, n, w.cols, rounded.data());
  MatMulRowsQuantizedActs(w, acts, y, y_stride, 0, w.rows);
}

}  // namespace

void MlaAttention(const ModelConfig& cfg, const MlaWeights& w, const AttentionParams& p,
                  const float* x, size_t n, const BatchRows& rows, float* out, ThreadPool& pool) {
  const size_t H = cfg.num_attention_heads, nope = cfg.qk_nope_head_dim, rope = cfg.qk_rope_head_dim;
  const size_t dv = cfg.v_head_dim, C = cfg.kv_lora_rank, qk = nope + rope;
  const float eps = static_cast<float>(cfg.rms_norm_eps);

  // Queries: [n, H, nope + rope], through the low-rank path when q_lora_rank is set.
  Floats q(n * H * qk);
  if (w.q_a) {
    Floats qa(n * w.q_a->rows);
    Linear(*w.q_a, x, n, qa.data(), pool, p.quantized_acts);
    RmsNormRows(qa.data(), w.q_a_norm.data(), n, w.q_a->rows, eps, qa.data());
    Linear(w.q_b, qa.data(), n, q.data(), pool, p.quantized_acts);
  } else {
    Linear(w.q_b, x, n, q.data(), pool, p.quantized_acts);
  }
  // Compressed KV: [n, C + rope] → cache latent (normalized) and the shared rotary key.
  Floats kva(n * (C + rope));
  Linear(w.kv_a, x, n, kva.data(), pool, p.quantized_acts);
  for (size_t i = 0; i < n; ++i) {
    float* row = kva.data() + i * (C + rope);
    const size_t pos = rows.pos[i];
    RmsNormRow(row, w.kv_a_norm.data(), C, eps, row);
    rows.kv[i]->StoreK(pos, row);
    ApplyRope(row + C, 1, rope, rope, p.rope_style, p.rope_freq, static_cast<int64_t>(pos));
    rows.kv[i]->StoreV(pos, row + C);
    ApplyRope(q.data() + i * H * qk + nope, H, qk, rope, p.rope_style, p.rope_freq, static_cast<int64_t>(pos));
  }
  // Absorbed queries q_lat[i, h] = W_UK,hᵀ · q_nope[i, h]   ([n, H, C]), with W_UK,h the
  // kv_b rows [h(nope+dv), +nope) read as stored (rows are the reduction): no transposed
  // float copy of kv_b, which for DeepSeek-V3 would be 2 GB read on every token.
  // On the fast path (Q8_0 kv_b with VNNI) each head's q_nope · (row scales) is rounded to
  // int8 and the products are int8 dot products: in deepseek-v3-bench Q8_0 this product took
  // 9% of decode and 8% of prefill on the exact path.
  // With kv_b split per head (MlaWeights::k_b), W_UK,h is stored transposed: its rows are
  // the latent dimensions and the product is an ordinary one.
  const bool fast = p.quantized_acts && UsesQuantizedActs(w.k_b ? w.k_b->first.dtype : w.kv_b.dtype);
  Floats q_lat(n * H * C), o_lat(n * H * C), o(n * H * dv);
  pool.ParallelFor(H, 1, [&](size_t b, size_t e) {
    thread_local std::vector<uint8_t> rounded;
    for (size_t h = b; h < e; ++h) {
      if (w.k_b) {
        RowsProduct(w.k_b->Expert(h), q.data() + h * qk, H * qk, n, q_lat.data() + h * C, H * C, fast, rounded);
        continue;
      }
      const WeightMatrix wuk = w.kv_b.RowSlice(h * (nope + dv), nope);
      if (fast) {
        MatMulTransposedQuantizedActs(wuk, q.data() + h * qk, H * qk, n, q_lat.data() + h * C, H * C);
      } else {
        MatMulTransposed(wuk, q.data() + h * qk, H * qk, n, q_lat.data() + h * C, H * C);
      }
    }
  });
  // A bf16 cache on the fast path: bf16 dot products over the cache (MlaChunk).
  std::optional<Bf16Queries> bq;
  if (Bf16CacheDots(p, n, rows)) {
    bq.emplace();
    bq->lat.resize(n * H * C);
    bq->pe.resize(n * H * rope);
    QuantizeActivations(DType::kBF16, q_lat.data(), C, n * H, C, bq->lat.data());
    QuantizeActivations(DType::kBF16, q.data() + nope, qk, n * H, rope, bq->pe.data());
  }
  OverCache(H, 1, C, n, rows,
            [&](size_t i, size_t p0, size_t cnt, size_t h0, size_t h1, float* scratch, const Partial& part) {
              MlaChunk(cfg, p, q.data(), q_lat.data(), bq ? &*bq : nullptr, i, *rows.kv[i], p0, cnt, h0, h1,
                       scratch, scratch + H * kChunk, part);
            },
            o_lat.data(), pool);
  // Values: o[i, h] = W_UV,h · o_lat[i, h], W_UV,h = kv_b rows [h(nope+dv) + nope, +dv). On
  // the fast path each head's latent rows are rounded as for any linear layer (int8 dot
  // products on Q8_0 weights instead of widening every weight to float: in deepseek-v3-bench
  // Q8_0 decode this product took 3.7% of the time on the exact path).
  pool.ParallelFor(H, 1, [&](size_t b, size_t e) {
    thread_local std::vector<uint8_t> rounded;
    for (size_t h = b; h < e; ++h) {
      const WeightMatrix wuv = w.v_b ? w.v_b->Expert(h) : w.kv_b.RowSlice(h * (nope + dv) + nope, dv);
      RowsProduct(wuv, o_lat.data() + h * C, H * C, n, o.data() + h * dv, H * dv, fast, rounded);
    }
  });
  Linear(w.o, o.data(), n, out, pool, p.quantized_acts);
}

}  // namespace moe
