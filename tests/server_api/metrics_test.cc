// Metrics: exact Prometheus text for histograms and counters, label escaping, thread safety.
#include "server/api/metrics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <sstream>
#include <thread>
#include <vector>

namespace moe {
namespace {

TEST(Histogram, CumulativeBucketsExact) {
  Histogram h({0.25, 1});
  for (double v : {0.125, 0.25, 0.5, 4.0}) h.Observe(v);  // 0.25 lands in le="0.25": bounds are inclusive
  h.Observe(std::nan(""));
  std::string out;
  h.Render("m", out);
  EXPECT_EQ(out,
            "m_bucket{le=\"0.25\"} 2\n"
            "m_bucket{le=\"1\"} 3\n"
            "m_bucket{le=\"+Inf\"} 4\n"
            "m_sum 4.875\n"
            "m_count 4\n");
}

TEST(Metrics, LabelEscaping) {
  EXPECT_EQ(EscapeLabelValue("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
  Metrics m;
  m.CountRequest("/x\"y", 200);
  EXPECT_NE(m.RenderPrometheus().find("moe_requests_total{endpoint=\"/x\\\"y\",status=\"200\"} 1\n"),
            std::string::npos);
}

TEST(Metrics, RendersEveryFamily) {
  Metrics m;
  m.CountRequest("/v1/chat/completions", 200);
  m.CountRequest("/v1/chat/completions", 200);
  m.CountRequest("/v1/chat/completions", 400);
  m.CountRequest("/v1/completions", 200);
  m.AddPromptTokens(10);
  m.AddPromptTokens(5);
  m.AddGeneratedTokens(7);
  m.ObserveTimeToFirstToken(0.3);
  m.ObserveInterTokenLatency(0.02);
  m.ObserveInterTokenLatency(0.04);
  m.ObserveRequestDuration(3);
  m.SetRequestsRunning(2);
  m.SetRequestsQueued(5);
  m.SetKvCacheUsageRatio(0.5);
  const std::string text = m.RenderPrometheus();
  const char* expected_lines[] = {
      "# HELP moe_requests_total HTTP requests answered, by endpoint and status code.",
      "# TYPE moe_requests_total counter",
      "moe_requests_total{endpoint=\"/v1/chat/completions\",status=\"200\"} 2",
      "moe_requests_total{endpoint=\"/v1/chat/completions\",status=\"400\"} 1",
      "moe_requests_total{endpoint=\"/v1/completions\",status=\"200\"} 1",
      "# TYPE moe_prompt_tokens_total counter",
      "moe_prompt_tokens_total 15",
      "moe_generated_tokens_total 7",
      "# TYPE moe_time_to_first_token_seconds histogram",
      "moe_time_to_first_token_seconds_bucket{le=\"0.25\"} 0",
      "moe_time_to_first_token_seconds_bucket{le=\"0.5\"} 1",
      "moe_time_to_first_token_seconds_bucket{le=\"+Inf\"} 1",
      "moe_time_to_first_token_seconds_sum 0.3",
      "moe_time_to_first_token_seconds_count 1",
      "moe_inter_token_latency_seconds_bucket{le=\"0.01\"} 0",
      "moe_inter_token_latency_seconds_bucket{le=\"0.025\"} 1",
      "moe_inter_token_latency_seconds_bucket{le=\"0.05\"} 2",
      "moe_inter_token_latency_seconds_count 2",
      "# TYPE moe_request_duration_seconds histogram",
      "moe_request_duration_seconds_bucket{le=\"2.5\"} 0",
      "moe_request_duration_seconds_bucket{le=\"5\"} 1",
      "# TYPE moe_requests_running gauge",
      "moe_requests_running 2",
      "# TYPE moe_requests_queued gauge",
      "moe_requests_queued 5",
      "# TYPE moe_kv_cache_usage_ratio gauge",
      "moe_kv_cache_usage_ratio 0.5",
  };
  for (const char* line : expected_lines)
    EXPECT_NE(text.find(std::string(line) + "\n"), std::string::npos) << "missing: " << line << "\n" << text;

  // Format invariants, checked line by line: every sample's family has HELP and TYPE
  // before it, and bucket counts never decrease within a histogram.
  std::istringstream in(text);
  std::string line, typed;
  uint64_t last_bucket = 0;
  std::string last_family;
  while (std::getline(in, line)) {
    ASSERT_FALSE(line.empty());
    if (line.rfind("# TYPE ", 0) == 0) {
      typed = line.substr(7, line.find(' ', 7) - 7);
      continue;
    }
    if (line[0] == '#') continue;
    ASSERT_EQ(line.rfind(typed, 0), 0u) << line << " outside its family " << typed;
    ASSERT_EQ(line.rfind("moe_", 0), 0u);
    if (line.find("_bucket{") != std::string::npos) {
      uint64_t v = std::stoull(line.substr(line.rfind(' ') + 1));
      if (typed == last_family) {
        EXPECT_GE(v, last_bucket) << line;
      }
      last_family = typed;
      last_bucket = v;
    }
  }
}

TEST(Metrics, ConcurrentUpdatesAreCounted) {
  Metrics m;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&m] {
      for (int i = 0; i < 5000; ++i) {
        m.CountRequest("/v1/completions", 200);
        m.AddGeneratedTokens(1);
        m.ObserveInterTokenLatency(0.001);
        if (i % 1000 == 0) (void)m.RenderPrometheus();
      }
    });
  }
  for (auto& t : threads) t.join();
  const std::string text = m.RenderPrometheus();
  EXPECT_NE(text.find("moe_requests_total{endpoint=\"/v1/completions\",status=\"200\"} 20000\n"), std::string::npos);
  EXPECT_NE(text.find("moe_generated_tokens_total 20000\n"), std::string::npos);
  EXPECT_NE(text.find("moe_inter_token_latency_seconds_bucket{le=\"0.001\"} 20000\n"), std::string::npos);
  EXPECT_NE(text.find("moe_inter_token_latency_seconds_count 20000\n"), std::string::npos);
}

}  // namespace
}  // namespace moe
