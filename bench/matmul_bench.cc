// Microbenchmarks of matmul.h: decode GEMV (1 token) reported as GB/s of weight bytes read,
// prefill GEMM (64/512 tokens hot; 48 tokens on cold weights, one MoE expert's share of a
// prompt) as GFLOP/s, for every weight dtype, 1 thread and all cores,
// on the exact path and (Q8_0, BF16, FP8) the AVX-512 fast path with rounded activations
// ("-fast": vpdpbusd / vdpbf16ps, activation rounding included in the time).
// "hot" decode runs reuse one matrix (it may stay in L2/L3); "cold" ones cycle through copies
// totalling 512 MiB so every weight byte comes from DRAM, the decode roofline of DESIGN.md.
// "transposed/" is MLA's W_UK product (rows of W are the reduction), exact vs fast.
// "gemv/" compares FP8 (DeepSeek-V3 block-scaled e4m3, 1 byte per weight + a float per 128x128
// block) with Q8_0 (1.0625 bytes per weight) on DeepSeek-V3 shapes, 2048x7168 and 7168x2048.
#include <benchmark/benchmark.h>

#include <sys/mman.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "hwy/highway.h"
#include "hwy/targets.h"
#include "kernels/cpu/matmul.h"
#include "kernels/cpu/weight_tiles.h"

namespace moe {
namespace {

constexpr DType kDTypes[] = {DType::kF32, DType::kF16, DType::kBF16, DType::kQ8_0, DType::kF8E4M3};

std::vector<float> Random(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float& f : v) f = dist(rng);
  return v;
}

// Anonymous memory with huge pages advised, as the engine holds weights read with --mmap 0
// (io/mapped_file.cc): 4 KiB pages would add a TLB walk per page per row stream.
class HugeBuffer {
 public:
  HugeBuffer() = default;
  HugeBuffer(const HugeBuffer&) = delete;
  HugeBuffer& operator=(const HugeBuffer&) = delete;
  ~HugeBuffer() {
    if (p_ != nullptr) munmap(p_, n_);
  }
  void resize(size_t n) {
    p_ = static_cast<uint8_t*>(mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    if (p_ == MAP_FAILED) {
      std::fprintf(stderr, "cannot allocate %zu bytes\n", n);
      std::exit(1);
    }
    madvise(p_, n, MADV_HUGEPAGE);
    n_ = n;
  }
  uint8_t* data() const { return p_; }

 private:
  uint8_t* p_ = nullptr;
  size_t n_ = 0;
};

// `copies` back-to-back copies of one random [rows, cols] matrix in `dtype`. FP8 copies share
// one scale grid (ceil(rows/128) x ceil(cols/128) floats, under 0.03% of the weight bytes).
struct Weights {
  HugeBuffer bytes;
  std::vector<float> scales;
  size_t matrix_bytes = 0;
  WeightLayout layout = WeightLayout::kRows;
  WeightMatrix Matrix(DType dtype, size_t rows, size_t cols, size_t i) const {
    const size_t stride = RowBytes(dtype, cols);
    return {dtype, bytes.data() + i * matrix_bytes, rows, cols, stride,
            scales.empty() ? nullptr : scales.data(), (cols + kF8Block - 1) / kF8Block, 0, layout};
  }
};

// Stored bytes of one matrix, FP8 scales included (what a GEMV reads).
size_t MatrixBytes(DType dtype, size_t rows, size_t cols) {
  const size_t scales = dtype == DType::kF8E4M3
                            ? (rows + kF8Block - 1) / kF8Block * ((cols + kF8Block - 1) / kF8Block) * 4
                            : 0;
  return rows * RowBytes(dtype, cols) + scales;
}

// With `tiled` (Q8_0, BF16), the matrices are tiled as the engine tiles them at load (weight_tiles.h).
std::unique_ptr<Weights> MakeWeights(DType dtype, size_t rows, size_t cols, size_t copies, bool tiled = false) {
  auto owned = std::make_unique<Weights>();
  Weights& w = *owned;
  w.matrix_bytes = rows * RowBytes(dtype, cols);
  w.bytes.resize(w.matrix_bytes * copies);
  const std::vector<float> v = Random(rows * cols, 1);
  if (dtype == DType::kF8E4M3) {
    // Values in [-1, 1] with scale 1/448 per block, as DeepSeek's quantizer would choose.
    w.scales.assign((rows + kF8Block - 1) / kF8Block * ((cols + kF8Block - 1) / kF8Block), 1.0f / 448);
    for (size_t i = 0; i < v.size(); ++i) w.bytes.data()[i] = F32ToF8E4M3(v[i] * 448);
  } else {
    for (size_t r = 0; r < rows; ++r)
      QuantizeRow(dtype, v.data() + r * cols, cols, w.bytes.data() + r * RowBytes(dtype, cols));
  }
  if (tiled) w.layout = TileInPlace(w.Matrix(dtype, rows, cols, 0)).layout;
  for (size_t i = 1; i < copies; ++i)
    std::memcpy(w.bytes.data() + i * w.matrix_bytes, w.bytes.data(), w.matrix_bytes);
  return owned;
}

// The fast path with the AVX-512 intrinsics forced (also for BF16, which kBest leaves to the
// portable path): activation rounding on the calling thread, rows split over the pool.
void FastProduct(const WeightMatrix& w, const float* x, size_t n_tokens, float* y,
                 ThreadPool& pool) {
  static std::vector<uint8_t> scratch;
  const DType ad = ActsDType(w.dtype);
  scratch.resize(n_tokens * ActsRowBytes(ad, w.cols));
  const QuantizedActs xq = QuantizeActivations(ad, x, w.cols, n_tokens, w.cols, scratch.data());
  RowBlocksParallel(pool, w.rows, [&](size_t b, size_t e) {
    MatMulRowsQuantizedActs(w, xq, y, w.rows, b, e, DotImpl::kAvx512);
  });
}

// One product per iteration: the exact path (MatMul), or with `fast` FastProduct.
void Run(benchmark::State& state, DType dtype, size_t rows, size_t cols, size_t tokens,
         int threads, bool cold, bool fast, bool tiled) {
  const size_t matrix_bytes = MatrixBytes(dtype, rows, cols);
  const size_t copies = cold ? (512u << 20) / matrix_bytes + 1 : 1;
  // google-benchmark calls this function several times while sizing the iteration count:
  // keep the last matrix set instead of rebuilding 512 MiB each time.
  static std::unique_ptr<Weights> cached;
  static std::string cached_key;
  const std::string key = std::string(DTypeName(dtype)) + (tiled ? "t" : "") + std::to_string(rows) + "x" +
                          std::to_string(cols) + "*" + std::to_string(copies);
  if (!cached || cached_key != key) {
    cached.reset();
    cached = MakeWeights(dtype, rows, cols, copies, tiled);
    cached_key = key;
  }
  const Weights& w = *cached;
  const std::vector<float> x = Random(tokens * cols, 2);
  std::vector<float> y(tokens * rows);
  ThreadPool pool(threads);
  size_t i = 0;
  for (auto _ : state) {
    const WeightMatrix m = w.Matrix(dtype, rows, cols, i);
    if (fast) {
      FastProduct(m, x.data(), tokens, y.data(), pool);
    } else {
      MatMul(m, x.data(), tokens, y.data(), pool);
    }
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
    i = i + 1 == copies ? 0 : i + 1;
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * matrix_bytes));
  state.counters["GFLOP/s"] = benchmark::Counter(
      2.0 * rows * cols * tokens * state.iterations() * 1e-9, benchmark::Counter::kIsRate);
}

void Register(const std::string& name, DType dt, size_t rows, size_t tokens, int threads,
              bool cold, bool fast, size_t cols = 1024, int repetitions = 3, bool tiled = false) {
  benchmark::RegisterBenchmark(name.c_str(),
                               [=](benchmark::State& s) {
                                 Run(s, dt, rows, cols, tokens, threads, cold, fast, tiled);
                               })
      ->UseRealTime()
      ->MinWarmUpTime(0.05)
      ->Repetitions(repetitions)
      ->ReportAggregatesOnly(true);
}

// MLA's W_UK product, y = x · W over one head of kv_b (DeepSeek-V3: 128 rows, the reduction,
// x 512 columns), on one thread as attention runs it, weights hot: the exact path
// (MatMulTransposed, weights widened to float) or with `fast` MatMulTransposedQuantizedActs
// (Q8_0: VNNI, rounding of x included in the time; FP8: scales once per block).
void RunTransposed(benchmark::State& state, DType dtype, size_t tokens, bool fast) {
  constexpr size_t kRows = 128, kCols = 512;
  const std::unique_ptr<Weights> w = MakeWeights(dtype, kRows, kCols, 1);
  const WeightMatrix m = w->Matrix(dtype, kRows, kCols, 0);
  const std::vector<float> x = Random(tokens * kRows, 2);
  std::vector<float> y(tokens * kCols);
  for (auto _ : state) {
    if (fast) {
      MatMulTransposedQuantizedActs(m, x.data(), kRows, tokens, y.data(), kCols);
    } else {
      MatMulTransposed(m, x.data(), kRows, tokens, y.data(), kCols);
    }
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * kRows * kCols * tokens * state.iterations() * 1e-9,
                                                 benchmark::Counter::kIsRate);
}

// MLA decode over a bf16 cache, one chunk of 128 positions per iteration on one thread, as
// model/blocks/attention.cc's MlaChunk runs it (DeepSeek-V3's 512 latent + 64 rotary values
// per position; 16 heads as in deepseek-v3-bench): scores against the latents and rotary keys,
// then the heads' weighted sum of the latents (the softmax between is left out). Exact path:
// the cache widened to float against float queries. `fast`: bf16 dot products, the queries
// as a 16-row tile and the cached positions as its "tokens", the weighted sum on
// MatMulTransposedQuantizedActs. "cold" cycles through 64k positions (75 MB, from DRAM: a
// 16-layer model at depth 4096); "hot" reuses one chunk.
void RunMlaCache(benchmark::State& state, bool fast, bool cold) {
  constexpr size_t kHeads = 16, kLatent = 512, kRope = 64, kChunk = 128;
  const size_t positions = cold ? 65536 : kChunk;
  HugeBuffer lat, pe;
  lat.resize(positions * kLatent * 2);
  pe.resize(positions * kRope * 2);
  {
    const std::vector<float> v = Random(kChunk * (kLatent + kRope), 3);
    for (size_t t = 0; t < positions; ++t) {
      QuantizeRow(DType::kBF16, v.data() + t % kChunk * kLatent, kLatent, lat.data() + t * kLatent * 2);
      QuantizeRow(DType::kBF16, v.data() + kChunk * kLatent + t % kChunk * kRope, kRope, pe.data() + t * kRope * 2);
    }
  }
  const std::vector<float> q = Random(kHeads * (kLatent + kRope), 4);
  std::vector<uint16_t> qb(kHeads * (kLatent + kRope));
  QuantizeActivations(DType::kBF16, q.data(), kLatent + kRope, kHeads, kLatent + kRope, qb.data());
  std::vector<float> e = Random(kHeads * kChunk, 5), scores(2 * kHeads * kChunk), o(kHeads * kLatent);
  size_t p0 = 0;
  for (auto _ : state) {
    const WeightMatrix latent{DType::kBF16, lat.data() + p0 * kLatent * 2, kChunk, kLatent, kLatent * 2};
    const WeightMatrix k_pe{DType::kBF16, pe.data() + p0 * kRope * 2, kChunk, kRope, kRope * 2};
    if (fast) {
      const WeightMatrix ql{DType::kBF16, qb.data(), kHeads, kLatent, (kLatent + kRope) * 2};
      const WeightMatrix qp{DType::kBF16, qb.data() + kLatent, kHeads, kRope, (kLatent + kRope) * 2};
      MatMulRowsQuantizedActs(ql, {DType::kBF16, latent.data, kChunk, kLatent, latent.row_stride, true}, scores.data(),
                              kHeads, 0, kHeads);
      MatMulRowsQuantizedActs(qp, {DType::kBF16, k_pe.data, kChunk, kRope, k_pe.row_stride, true},
                              scores.data() + kHeads * kChunk, kHeads, 0, kHeads);
      MatMulTransposedQuantizedActs(latent, e.data(), kChunk, kHeads, o.data(), kLatent);
    } else {
      MatMulRows(latent, q.data(), kLatent + kRope, kHeads, scores.data(), kChunk, 0, kChunk);
      MatMulRows(k_pe, q.data() + kLatent, kLatent + kRope, kHeads, scores.data() + kHeads * kChunk, kChunk, 0,
                 kChunk);
      MatMulTransposed(latent, e.data(), kChunk, kHeads, o.data(), kLatent);
    }
    benchmark::DoNotOptimize(o.data());
    benchmark::ClobberMemory();
    p0 = p0 + 2 * kChunk > positions ? 0 : p0 + kChunk;
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kChunk * (kLatent + kRope) * 2));
  state.counters["GFLOP/s"] = benchmark::Counter(
      2.0 * kHeads * kChunk * (2 * kLatent + kRope) * state.iterations() * 1e-9, benchmark::Counter::kIsRate);
}

// GQA scores over a bf16 cache, one chunk of 128 positions per iteration on one thread, as
// GqaChunk runs them for qwen3moe-bench (4 KV heads of 128 values per position, 4 query
// heads per KV head): every KV head's keys against its group's queries. Exact path: keys
// widened to float (MatMulRows); `fast`: GroupScores (bf16 dot products). "cold" cycles
// through 16k positions (16 MB of keys, from DRAM), "hot" reuses one chunk.
void RunGqaScores(benchmark::State& state, bool fast, bool cold) {
  constexpr size_t kKv = 4, kGroup = 4, kDim = 128, kChunk = 128;
  const size_t positions = cold ? 16384 : kChunk, width = kKv * kDim;
  HugeBuffer keys;
  keys.resize(positions * width * 2);
  {
    const std::vector<float> v = Random(kChunk * width, 7);
    for (size_t t = 0; t < positions; ++t)
      QuantizeRow(DType::kBF16, v.data() + t % kChunk * width, width, keys.data() + t * width * 2);
  }
  const std::vector<float> q = Random(kKv * kGroup * kDim, 8);
  std::vector<uint16_t> qb(q.size());
  QuantizeActivations(DType::kBF16, q.data(), kDim, kKv * kGroup, kDim, qb.data());
  std::vector<float> scores(kKv * kGroup * kChunk);
  size_t p0 = 0;
  for (auto _ : state) {
    for (size_t g = 0; g < kKv; ++g) {
      const WeightMatrix k{DType::kBF16, keys.data() + (p0 * width + g * kDim) * 2, kChunk, kDim, width * 2};
      float* y = scores.data() + g * kGroup * kChunk;
      if (fast) {
        GroupScores(k, {DType::kBF16, qb.data() + g * kGroup * kDim, kGroup, kDim, kDim * 2}, y, kChunk);
      } else {
        MatMulRows(k, q.data() + g * kGroup * kDim, kDim, kGroup, y, kChunk, 0, kChunk);
      }
    }
    benchmark::DoNotOptimize(scores.data());
    benchmark::ClobberMemory();
    p0 = p0 + 2 * kChunk > positions ? 0 : p0 + kChunk;
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kChunk * width * 2));
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * kKv * kGroup * kDim * kChunk * state.iterations() * 1e-9,
                                                 benchmark::Counter::kIsRate);
}

// Rounding activations for the fast path (QuantizeActivations), one thread, in cache: 48
// tokens of 1024 columns (an expert's share of a 512-token prompt in deepseek-v3-bench), as
// every fast product does before it starts. GB/s of float32 input.
void RunQuantizeActs(benchmark::State& state, DType dtype) {
  constexpr size_t kCols = 1024, kTokens = 48;
  const std::vector<float> x = Random(kTokens * kCols, 6);
  std::vector<uint8_t> out(kTokens * ActsRowBytes(dtype, kCols));
  for (auto _ : state) {
    QuantizeActivations(dtype, x.data(), kCols, kTokens, kCols, out.data());
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kTokens * kCols * sizeof(float)));
}

// A one-thread benchmark: real time, a short warm-up, medians of 3 repetitions.
template <class Fn>
void RegisterOneThread(const std::string& name, Fn fn) {
  benchmark::RegisterBenchmark(name.c_str(), fn)
      ->UseRealTime()
      ->MinWarmUpTime(0.05)
      ->Repetitions(3)
      ->ReportAggregatesOnly(true);
}

// Names: <decode|prefill>[-fast]/<dtype>/<rows>x1024/<hot|cold|tokens:N[/cold]>/threads:N;
// <dtype> "q8_0-tiled" / "bf16-tiled": as the engine holds them after repacking at load
// (weight_tiles.h).
void RegisterAll() {
  const int cores = ThreadPool::PhysicalCores();
  for (DType dt : kDTypes) {
    for (bool fast : {false, true}) {
      if (fast && (!HasFastActsPath(dt) || !HasAvx512Dot())) continue;
      for (bool tiled : {false, true}) {
        if (tiled && (TiledLayout(dt) == WeightLayout::kRows || !fast)) continue;
        const std::string name = std::string(DTypeName(dt)) + (tiled ? "-tiled" : "");
        const std::string decode = fast ? "decode-fast/" : "decode/", prefill = fast ? "prefill-fast/" : "prefill/";
        for (int threads : {1, cores}) {
          const std::string th = "/threads:" + std::to_string(threads);
          auto add = [&](const std::string& n, size_t rows, size_t tokens, bool cold) {
            Register(n, dt, rows, tokens, threads, cold, fast, 1024, 3, tiled);
          };
          for (size_t rows : {4096, 512})
            for (bool cold : {false, true})
              add(decode + name + "/" + std::to_string(rows) + "x1024/" + (cold ? "cold" : "hot") + th, rows, 1, cold);
          for (size_t tokens : {64, 512})
            add(prefill + name + "/4096x1024/tokens:" + std::to_string(tokens) + th, 4096, tokens, false);
          // Two sequences decoding in one step (the server's continuous batching), cold.
          add(decode + name + "/4096x1024/tokens:2/cold" + th, 4096, 2, true);
          // One MoE expert's share of a 512-token prompt (deepseek-v3-bench: 48 tokens, gate
          // and up 2 x 704 rows), weights cold as in the model, where each expert is read once.
          add(prefill + name + "/1408x1024/tokens:48/cold" + th, 1408, 48, true);
          if (cores == 1) break;
        }
      }
    }
  }
  // Names: transposed[-fast]/<dtype>/128x512/tokens:N (one thread).
  for (DType dt : {DType::kQ8_0, DType::kF8E4M3})
    for (size_t tokens : {1, 64})
      for (bool fast : {false, true}) {
        if (fast && !UsesQuantizedActs(dt)) continue;
        const std::string name = std::string(fast ? "transposed-fast/" : "transposed/") + std::string(DTypeName(dt)) +
                                 "/128x512/tokens:" + std::to_string(tokens);
        RegisterOneThread(name, [=](benchmark::State& s) { RunTransposed(s, dt, tokens, fast); });
      }
  // Names: gqa-scores[-fast]/bf16/chunk:128/<hot|cold> (one thread).
  for (bool fast : {false, true}) {
    if (fast && !UsesQuantizedActs(DType::kBF16)) continue;
    for (bool cold : {false, true}) {
      const std::string name = std::string(fast ? "gqa-scores-fast" : "gqa-scores") + "/bf16/chunk:128/" +
                               (cold ? "cold" : "hot");
      RegisterOneThread(name, [=](benchmark::State& s) { RunGqaScores(s, fast, cold); });
    }
  }
  // Names: quantize-acts/<format>/48x1024 (one thread).
  for (DType dt : {DType::kQ8_0, DType::kBF16, DType::kF16}) {
    const std::string name = "quantize-acts/" + std::string(DTypeName(dt)) + "/48x1024";
    RegisterOneThread(name, [=](benchmark::State& s) { RunQuantizeActs(s, dt); });
  }
  // Names: mla-cache[-fast]/bf16/chunk:128/<hot|cold> (one thread).
  for (bool fast : {false, true}) {
    if (fast && !UsesQuantizedActs(DType::kBF16)) continue;
    for (bool cold : {false, true}) {
      const std::string name = std::string(fast ? "mla-cache-fast" : "mla-cache") + "/bf16/chunk:128/" +
                               (cold ? "cold" : "hot");
      RegisterOneThread(name, [=](benchmark::State& s) { RunMlaCache(s, fast, cold); });
    }
  }
  // FP8 vs Q8_0 decode on DeepSeek-V3 shapes (q/kv projections, expert up/down), cold. Q8_0
  // both ways: exact (f32 activations) and, where present, the VNNI fast path the engine uses.
  for (int threads : {1, cores}) {
    const std::string th = "/threads:" + std::to_string(threads);
    for (auto [rows, cols] : {std::pair<size_t, size_t>{2048, 7168}, {7168, 2048}}) {
      const std::string shape = "/" + std::to_string(rows) + "x" + std::to_string(cols) + "/cold" + th;
      Register("gemv/f8_e4m3" + shape, DType::kF8E4M3, rows, 1, threads, true, false, cols, 5);
      if (HasAvx512Dot()) Register("gemv-fast/f8_e4m3" + shape, DType::kF8E4M3, rows, 1, threads, true, true, cols, 5);
      Register("gemv/q8_0" + shape, DType::kQ8_0, rows, 1, threads, true, false, cols, 5);
      if (HasAvx512Dot()) Register("gemv-fast/q8_0" + shape, DType::kQ8_0, rows, 1, threads, true, true, cols, 5);
      if (HasAvx512Dot())
        Register("gemv-fast/q8_0-tiled" + shape, DType::kQ8_0, rows, 1, threads, true, true, cols, 5, true);
    }
    if (cores == 1) break;
  }
}

}  // namespace
}  // namespace moe

int main(int argc, char** argv) {
  const int64_t best = hwy::SupportedTargets() & HWY_TARGETS;
  benchmark::AddCustomContext("simd_target", hwy::TargetName(best & -best));
  benchmark::AddCustomContext("physical_cores", std::to_string(moe::ThreadPool::PhysicalCores()));
  benchmark::AddCustomContext("avx512_vnni_bf16", moe::HasAvx512Dot() ? "yes" : "no");
  moe::RegisterAll();
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
