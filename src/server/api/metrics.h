// Server metrics in the Prometheus text exposition format (version 0.0.4), names prefixed
// "moe_". Every method is thread-safe (one mutex; updates are a few adds per token).
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace moe {

// Cumulative-bucket histogram: counts[i] observations <= upper_bounds[i], plus +Inf.
class Histogram {
 public:
  explicit Histogram(std::vector<double> upper_bounds);  // sorted ascending, finite
  void Observe(double value);                            // NaN is ignored
  // Appends the _bucket/_sum/_count lines for metric `name` (no HELP/TYPE).
  void Render(std::string_view name, std::string& out) const;

 private:
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;  // per bucket, not cumulative; last is +Inf
  double sum_ = 0;
  uint64_t count_ = 0;
};

class Metrics {
 public:
  Metrics();

  // One finished HTTP request: moe_requests_total{endpoint="/v1/chat/completions",status="200"}.
  void CountRequest(std::string_view endpoint, int http_status);
  void AddPromptTokens(uint64_t n);     // moe_prompt_tokens_total
  void AddGeneratedTokens(uint64_t n);  // moe_generated_tokens_total

  void ObserveTimeToFirstToken(double seconds);   // moe_time_to_first_token_seconds
  void ObserveInterTokenLatency(double seconds);  // moe_inter_token_latency_seconds
  void ObserveRequestDuration(double seconds);    // moe_request_duration_seconds

  void SetRequestsRunning(int64_t n);       // moe_requests_running
  void SetRequestsQueued(int64_t n);        // moe_requests_queued
  void SetKvCacheUsageRatio(double ratio);  // moe_kv_cache_usage_ratio, 0..1

  std::string RenderPrometheus() const;

 private:
  mutable std::mutex mu_;
  std::map<std::pair<std::string, int>, uint64_t> requests_;
  uint64_t prompt_tokens_ = 0;
  uint64_t generated_tokens_ = 0;
  Histogram ttft_;
  Histogram itl_;
  Histogram duration_;
  int64_t running_ = 0;
  int64_t queued_ = 0;
  double kv_usage_ = 0;
};

// Escapes a label value: backslash, double quote and newline become \\, \" and \n.
std::string EscapeLabelValue(std::string_view v);

}  // namespace moe
