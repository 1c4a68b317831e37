// HTTP/1.1 server on Boost.Beast/Asio: every connection is asynchronous on a small fixed set
// of I/O threads, so hundreds of open streams cost sockets and buffers, not threads. The
// handler runs on an I/O thread and must not block: it answers at once or keeps the
// responder and answers later from any thread (a generation streams through it).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/status.h"

namespace moe::server {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct HttpRequest {
  std::string method;   // "GET", "POST", ...
  std::string target;   // path and query, as sent
  std::string body;
  Headers headers;      // names lower-cased
  std::string Header(std::string_view lower_name) const;
};

// One request's response. Thread-safe; calls after the client left are ignored.
class HttpResponder {
 public:
  virtual ~HttpResponder() = default;
  // A whole response (Content-Length).
  virtual void Send(int status, std::string_view content_type, std::string body, const Headers& extra = {}) = 0;
  // A streamed response (chunked transfer encoding): headers now, then Write()s, then End().
  virtual void BeginStream(int status, std::string_view content_type, const Headers& extra = {}) = 0;
  virtual void Write(std::string data) = 0;
  virtual void End() = 0;
  // True once the client closed its connection or a write failed.
  virtual bool client_gone() const = 0;
  // fn runs once (on an I/O thread) when the client goes away before the response ended.
  virtual void OnClientGone(std::function<void()> fn) = 0;
};

using HttpHandler = std::function<void(HttpRequest&&, std::shared_ptr<HttpResponder>)>;

struct HttpOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 8080;              // 0: any free port (tests)
  size_t max_body_bytes = 8 << 20;   // larger bodies get 413
  size_t max_header_bytes = 64 << 10;
  size_t max_connections = 1024;     // more are answered 503 and closed
  int io_threads = 1;
  int idle_timeout_s = 60;           // a request must arrive (headers and body) within this
};

class HttpServer {
 public:
  // Binds and listens; serving starts with Run().
  static Result<std::unique_ptr<HttpServer>> Listen(const HttpOptions& opts, HttpHandler handler);
  ~HttpServer();

  uint16_t port() const;
  // Runs the I/O threads; returns after Stop().
  void Run();
  // Closes the listening socket: no new connections; open ones carry on.
  void StopAccepting();
  // Closes every connection and makes Run() return.
  void Stop();
  size_t open_connections() const;
  // Requests read whose response is not fully written yet.
  size_t responses_in_progress() const;

  struct Impl;

 private:
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// "200 OK"-style reason phrases for the statuses the server sends.
std::string_view StatusReason(int status);

}  // namespace moe::server
