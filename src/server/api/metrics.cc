// Metrics and Histogram: counters, gauges and histograms rendered as Prometheus text.
#include "server/api/metrics.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace moe {
namespace {

// Go-compatible float text: shortest round-trip form; Prometheus also reads 1e-05.
std::string Num(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (std::isnan(v)) return "NaN";
  return fmt::format("{}", v);
}

void Header(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
  out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

}  // namespace

std::string EscapeLabelValue(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

Histogram::Histogram(std::vector<double> upper_bounds)
    : bounds_(std::move(upper_bounds)), counts_(bounds_.size() + 1, 0) {}

void Histogram::Observe(double value) {
  if (std::isnan(value)) return;
  size_t i = std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin();  // first bound >= value
  ++counts_[i];
  sum_ += value;
  ++count_;
}

void Histogram::Render(std::string_view name, std::string& out) const {
  uint64_t cumulative = 0;
  for (size_t i = 0; i < bounds_.size(); ++i) {
    cumulative += counts_[i];
    out += fmt::format("{}_bucket{{le=\"{}\"}} {}\n", name, Num(bounds_[i]), cumulative);
  }
  out += fmt::format("{}_bucket{{le=\"+Inf\"}} {}\n", name, count_);
  out += fmt::format("{}_sum {}\n{}_count {}\n", name, Num(sum_), name, count_);
}

// Buckets in seconds: first token spans prefill of short to very long prompts; the gap
// between tokens is milliseconds on a fast path, up to seconds under heavy batching.
Metrics::Metrics()
    : ttft_({0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120}),
      itl_({0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5}),
      duration_({0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800}) {}

void Metrics::CountRequest(std::string_view endpoint, int http_status) {
  std::lock_guard lock(mu_);
  ++requests_[{std::string(endpoint), http_status}];
}
void Metrics::AddPromptTokens(uint64_t n) {
  std::lock_guard lock(mu_);
  prompt_tokens_ += n;
}
void Metrics::AddGeneratedTokens(uint64_t n) {
  std::lock_guard lock(mu_);
  generated_tokens_ += n;
}
void Metrics::ObserveTimeToFirstToken(double seconds) {
  std::lock_guard lock(mu_);
  ttft_.Observe(seconds);
}
void Metrics::ObserveInterTokenLatency(double seconds) {
  std::lock_guard lock(mu_);
  itl_.Observe(seconds);
}
void Metrics::ObserveRequestDuration(double seconds) {
  std::lock_guard lock(mu_);
  duration_.Observe(seconds);
}
void Metrics::SetRequestsRunning(int64_t n) {
  std::lock_guard lock(mu_);
  running_ = n;
}
void Metrics::SetRequestsQueued(int64_t n) {
  std::lock_guard lock(mu_);
  queued_ = n;
}
void Metrics::SetKvCacheUsageRatio(double ratio) {
  std::lock_guard lock(mu_);
  kv_usage_ = ratio;
}

std::string Metrics::RenderPrometheus() const {
  std::lock_guard lock(mu_);
  std::string out;
  Header(out, "moe_requests_total", "counter", "HTTP requests answered, by endpoint and status code.");
  for (const auto& [key, n] : requests_)
    out += fmt::format("moe_requests_total{{endpoint=\"{}\",status=\"{}\"}} {}\n", EscapeLabelValue(key.first),
                       key.second, n);
  Header(out, "moe_prompt_tokens_total", "counter", "Prompt tokens processed.");
  out += fmt::format("moe_prompt_tokens_total {}\n", prompt_tokens_);
  Header(out, "moe_generated_tokens_total", "counter", "Tokens generated.");
  out += fmt::format("moe_generated_tokens_total {}\n", generated_tokens_);
  Header(out, "moe_time_to_first_token_seconds", "histogram",
         "Time from request arrival to the first generated token.");
  ttft_.Render("moe_time_to_first_token_seconds", out);
  Header(out, "moe_inter_token_latency_seconds", "histogram",
         "Time between consecutive generated tokens of one request.");
  itl_.Render("moe_inter_token_latency_seconds", out);
  Header(out, "moe_request_duration_seconds", "histogram",
         "Time from request arrival to the last byte of the response.");
  duration_.Render("moe_request_duration_seconds", out);
  Header(out, "moe_requests_running", "gauge", "Requests being generated now.");
  out += fmt::format("moe_requests_running {}\n", running_);
  Header(out, "moe_requests_queued", "gauge", "Requests waiting for a batch slot.");
  out += fmt::format("moe_requests_queued {}\n", queued_);
  Header(out, "moe_kv_cache_usage_ratio", "gauge", "Fraction of KV cache cells in use, 0 to 1.");
  out += fmt::format("moe_kv_cache_usage_ratio {}\n", Num(kv_usage_));
  return out;
}

}  // namespace moe
