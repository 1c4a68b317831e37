// The OpenAI-compatible API over the continuous-batching scheduler: routes, authentication,
// chat-template rendering, generation requests turned into scheduler jobs, and their
// streamed (server-sent events) or whole responses. Runs on the HTTP server's I/O threads
// (request handling) and the scheduler thread (token callbacks); never blocks either.
#pragma once

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/scheduler.h"
#include "server/api/errors.h"
#include "server/api/metrics.h"
#include "server/api/request.h"
#include "server/http_server.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace moe::server {

struct ServiceOptions {
  std::string alias = "moe";   // the model id in /v1/models and responses
  std::string api_key;         // empty: no authentication
  RequestLimits limits;
  int retry_after_s = 1;       // Retry-After on 503
};

// What the service serves once loading has finished. Not owned.
struct ServedModel {
  const Model* model = nullptr;
  const Tokenizer* tokenizer = nullptr;
  const ChatTemplate* chat_template = nullptr;
  Scheduler* scheduler = nullptr;
  std::vector<int32_t> eog_ids;
};

class OpenAiService {
 public:
  explicit OpenAiService(ServiceOptions opts);

  // The HTTP handler. Before SetModel, /health answers 503 {"status":"loading"}.
  void Handle(HttpRequest&& req, std::shared_ptr<HttpResponder> res);
  void SetModel(const ServedModel& m);
  // New generation requests get 503 from now on (SIGTERM).
  void SetDraining() { draining_ = true; }
  // Generation requests accepted and not yet answered.
  size_t in_flight() const { return in_flight_; }
  Metrics& metrics() { return metrics_; }

 private:
  struct Call;
  void Reply(const std::shared_ptr<HttpResponder>& res, std::string_view endpoint, int status,
             std::string body, std::string_view ctype = "application/json", Headers extra = {});
  void ReplyError(const std::shared_ptr<HttpResponder>& res, std::string_view endpoint, const ApiError& e,
                  Headers extra = {});
  void Generate(RequestKind kind, HttpRequest&& req, std::shared_ptr<HttpResponder> res);
  std::string ModelsBody() const;

  ServiceOptions opts_;
  Metrics metrics_;
  std::atomic<const ServedModel*> served_{nullptr};
  std::unique_ptr<ServedModel> served_storage_;
  std::atomic<bool> draining_{false};
  std::atomic<size_t> in_flight_{0};
  int64_t created_ = 0;
};

}  // namespace moe::server
