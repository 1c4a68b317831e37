// `moe bench`: prompt-processing and generation speed (median of repeated runs after a
// warm-up), quoted against the machine's limits measured in the same run: decode as a
// fraction of the memory-bandwidth roofline (active weight bytes per token ÷ the read
// bandwidth measured just before each timed run, median of the runs' fractions), prefill in
// GFLOP/s beside the measured dot-product peaks.
#include <fmt/format.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <random>

#include "base/roofline.h"
#include "base/timer.h"
#include "cli/common.h"

namespace moe::cli {

namespace {

struct BenchFlags {
  std::vector<int> prompt = {512};
  std::vector<int> gen = {128};
  int depth = 0;
  int repetitions = 5;
  bool json = false;
};

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

std::vector<int32_t> RandomTokens(size_t n, size_t vocab, uint64_t seed) {
  std::mt19937_64 g(seed);
  std::vector<int32_t> t(n);
  for (auto& x : t) x = static_cast<int32_t>(g() % vocab);
  return t;
}

// Seconds to prefill n tokens into an empty cache (logits of the last one only).
Result<double> TimePrefill(const Model& m, size_t n, ThreadPool& pool, uint64_t seed) {
  auto tokens = RandomTokens(n, m.config().vocab_size, seed);
  auto cache = m.NewCache(n);
  std::vector<float> logits;
  Timer t;
  MOE_RETURN_IF_ERROR(m.Forward(tokens, *cache, false, &logits, pool));
  return t.Seconds();
}

// Seconds to decode n tokens one by one after `depth` tokens already in the cache.
Result<double> TimeDecode(const Model& m, size_t n, size_t depth, ThreadPool& pool, uint64_t seed) {
  auto cache = m.NewCache(depth + n + 1);
  std::vector<float> logits;
  if (depth > 0) {
    auto ctx = RandomTokens(depth, m.config().vocab_size, seed);
    for (size_t i = 0; i < depth; i += 512) {
      size_t k = std::min<size_t>(512, depth - i);
      MOE_RETURN_IF_ERROR(m.Forward(std::span(ctx).subspan(i, k), *cache, false, &logits, pool));
    }
  }
  auto tokens = RandomTokens(n, m.config().vocab_size, seed + 1);
  Timer t;
  for (size_t i = 0; i < n; ++i) MOE_RETURN_IF_ERROR(m.Forward(std::span(tokens).subspan(i, 1), *cache, false, &logits, pool));
  return t.Seconds();
}

}  // namespace

void RegisterBench(CLI::App& app, std::vector<std::pair<CLI::App*, Action>>* out) {
  auto* cmd = app.add_subcommand("bench", "measure prefill and decode speed against the machine's limits");
  auto f = std::make_shared<CommonFlags>();
  auto b = std::make_shared<BenchFlags>();
  AddModelFlags(cmd, f.get());
  cmd->add_option("-p,--n-prompt", b->prompt, "prompt lengths to test, e.g. 64,512 (0: skip)")->delimiter(',');
  cmd->add_option("-n,--n-gen", b->gen, "generated lengths to test, e.g. 128 (0: skip)")->delimiter(',');
  cmd->add_option("--depth", b->depth, "tokens already in the KV cache before decode")->check(CLI::Range(0, 1 << 20));
  cmd->add_option("-r,--repetitions", b->repetitions, "timed runs per test (median reported)")->check(CLI::Range(1, 1000));
  cmd->add_flag("--json", b->json, "print a JSON array, one object per test");
  out->push_back({cmd, [=]() {
    for (int v : b->prompt)
      if (v < 0 || v > (1 << 20)) return Fail(Status::Errorf("-p {} is out of range", v));
    for (int v : b->gen)
      if (v < 0 || v > (1 << 20)) return Fail(Status::Errorf("-n {} is out of range", v));
    auto model = LoadModel(*f);
    if (!model.ok()) return Fail(model.status());
    const Model& m = **model;
    ThreadPool& pool = GlobalPool();
    const ParamStats& st = m.stats();
    // Prefill FLOPs: 2 per active weight, output head excluded (only the last token's
    // logits are computed); attention score FLOPs are left out (small at these lengths).
    const double head = static_cast<double>(m.config().vocab_size) * m.config().hidden_size;
    const double flops_per_token = 2.0 * (static_cast<double>(st.active_per_token) - head);
    ReadBandwidthProbe probe(pool);
    const double bandwidth = probe.Measure();
    const Roofline peaks = MeasurePeaks(pool);
    nlohmann::json results = nlohmann::json::array();
    // Decode tests pass `bandwidths`, one reading taken just before each timed run (so never
    // empty): the roofline fraction is the median of the runs' own fractions. Prefill passes
    // none and is quoted against the peaks.
    auto report = [&](const std::string& test, double n_tokens, const std::vector<double>& seconds,
                      const std::vector<double>& bandwidths = {}) {
      const bool decode = !bandwidths.empty();
      std::vector<double> rates, fractions;
      for (double s : seconds) rates.push_back(n_tokens / s);
      for (size_t r = 0; r < bandwidths.size(); ++r)
        fractions.push_back(rates[r] * st.active_bytes_per_token / (bandwidths[r] * 1e9));
      double tps = Median(rates);
      nlohmann::json j = {{"test", test}, {"tokens_per_s", tps}, {"samples", rates},
                          {"read_bandwidth_gbs", decode ? Median(bandwidths) : bandwidth},
                          {"threads", pool.size()}};
      if (decode) {
        j["roofline_fraction"] = Median(fractions);
        j["read_bandwidth_samples"] = bandwidths;
        j["active_bytes_per_token"] = st.active_bytes_per_token;
        j["depth"] = b->depth;
      } else {
        j["gflops"] = tps * flops_per_token / 1e9;
        j["peak_fp32_gflops"] = peaks.fp32_fma_gflops;
        j["peak_bf16_gflops"] = peaks.bf16_dot_gflops;
        j["peak_int8_gops"] = peaks.int8_dot_gops;
      }
      results.push_back(j);
      if (!b->json) {
        if (decode)
          fmt::print("{:<8} {:>9.2f} tok/s   {:5.1f}% of the {:.1f} GB/s roofline ({:.1f} MB/token, depth {})\n", test, tps,
                     100 * j["roofline_fraction"].get<double>(), j["read_bandwidth_gbs"].get<double>(),
                     st.active_bytes_per_token / 1e6, b->depth);
        else
          fmt::print("{:<8} {:>9.2f} tok/s   {:7.1f} GFLOP/s  (peaks: fp32 {:.0f}, bf16 {:.0f} GFLOP/s, int8 {:.0f} GOP/s)\n", test,
                     tps, j["gflops"].get<double>(), peaks.fp32_fma_gflops, peaks.bf16_dot_gflops, peaks.int8_dot_gops);
      }
    };
    if (!b->json)
      fmt::print("{}: {} threads, {:.2f} GB weights, {:.1f} MB active per token\n", f->model, pool.size(),
                 st.weight_bytes / 1e9, st.active_bytes_per_token / 1e6);
    for (int p : b->prompt) {
      if (p == 0) continue;
      std::vector<double> secs;
      for (int r = 0; r <= b->repetitions; ++r) {  // run 0 is the warm-up
        auto s = TimePrefill(m, p, pool, 100 + r);
        if (!s.ok()) return Fail(s.status());
        if (r > 0) secs.push_back(*s);
      }
      report(fmt::format("pp{}", p), p, secs);
    }
    for (int n : b->gen) {
      if (n == 0) continue;
      std::vector<double> secs, bandwidths;
      for (int r = 0; r <= b->repetitions; ++r) {
        if (r > 0) bandwidths.push_back(probe.Measure(2));
        auto s = TimeDecode(m, n, b->depth, pool, 200 + r);
        if (!s.ok()) return Fail(s.status());
        if (r > 0) secs.push_back(*s);
      }
      report(fmt::format("tg{}", n), n, secs, bandwidths);
    }
    if (b->json) fmt::print("{}\n", results.dump(2));
    return 0;
  }});
}

}  // namespace moe::cli
