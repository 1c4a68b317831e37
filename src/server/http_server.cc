#include "server/http_server.h"

#include <fmt/format.h>

#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <deque>
#include <optional>
#include <thread>

#include "server/api/errors.h"

namespace moe::server {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

std::string HttpRequest::Header(std::string_view lower_name) const {
  for (const auto& [k, v] : headers)
    if (k == lower_name) return v;
  return "";
}

std::string_view StatusReason(int status) {
  switch (status) {
    case 200: return "OK";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 413: return "Payload Too Large";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Status";
  }
}

namespace {

// The transport-level errors, before a request reaches the handler, in OpenAI's error shape
// (ErrorBody escapes the message, which may quote the parser).
std::string TransportError(int status, std::string message, std::string code) {
  return ErrorBody(ApiError{.http_status = status, .type = "invalid_request_error", .message = std::move(message), .param = "", .code = std::move(code)});
}

}  // namespace

struct HttpServer::Impl {
  HttpOptions opts;
  HttpHandler handler;
  net::io_context ioc;
  tcp::acceptor acceptor{ioc};
  net::executor_work_guard<net::io_context::executor_type> work{ioc.get_executor()};
  std::atomic<size_t> connections{0};
  std::atomic<size_t> responding{0};  // requests read whose response has not been written
  uint16_t port = 0;

  void Accept();
};

namespace {

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket&& socket, HttpServer::Impl* server) : stream_(std::move(socket)), server_(server) {
    ++server_->connections;
  }
  ~Session() {
    SetResponding(false);
    --server_->connections;
  }

  void Start() {
    // Token events are small writes that must leave at once (no Nagle delay).
    beast::error_code ec;
    stream_.socket().set_option(tcp::no_delay(true), ec);
    DoRead();
  }
  // Answers at once and closes (too many connections).
  void Refuse(int status, std::string body) {
    keep_alive_ = false;
    SetResponding(true);
    Enqueue(Format(status, "application/json", body, {}, false), true);
  }

  auto executor() { return stream_.get_executor(); }
  bool gone() const { return gone_flag_; }

  // Called on the strand by the responder.
  void SendWhole(int status, std::string_view ctype, const std::string& body, const Headers& extra) {
    Enqueue(Format(status, ctype, body, extra, false), true);
  }
  void SendHead(int status, std::string_view ctype, const Headers& extra) {
    Enqueue(Format(status, ctype, "", extra, true), false);
  }
  void SendChunk(const std::string& data) {
    if (!data.empty()) Enqueue(fmt::format("{:x}\r\n", data.size()) + data + "\r\n", false);
  }
  void SendLastChunk() { Enqueue("0\r\n\r\n", true); }
  void SetOnGone(std::function<void()> fn) {
    if (gone_) fn();
    else on_gone_ = std::move(fn);
  }

 private:
  std::string Format(int status, std::string_view ctype, std::string_view body, const Headers& extra, bool chunked) {
    std::string head = fmt::format("HTTP/1.1 {} {}\r\nServer: moe.cpp\r\nContent-Type: {}\r\n", status,
                                   StatusReason(status), ctype);
    if (chunked) head += "Transfer-Encoding: chunked\r\nCache-Control: no-cache\r\n";
    else head += fmt::format("Content-Length: {}\r\n", body.size());
    if (!keep_alive_) head += "Connection: close\r\n";
    for (const auto& [k, v] : extra) head += fmt::format("{}: {}\r\n", k, v);
    head += "\r\n";
    head += body;
    return head;
  }

  void DoRead() {
    parser_.emplace();
    parser_->body_limit(server_->opts.max_body_bytes);
    parser_->header_limit(static_cast<uint32_t>(server_->opts.max_header_bytes));
    stream_.expires_after(std::chrono::seconds(server_->opts.idle_timeout_s));
    http::async_read(stream_, buf_, *parser_, [self = shared_from_this()](beast::error_code ec, size_t) { self->OnRead(ec); });
  }

  void OnRead(beast::error_code ec) {
    if (ec == http::error::end_of_stream || ec == net::error::eof || ec == beast::error::timeout ||
        ec == net::error::operation_aborted || ec == net::error::connection_reset)
      return Close();
    if (ec) {
      keep_alive_ = false;
      SetResponding(true);
      stream_.expires_never();
      if (ec == http::error::body_limit)
        return Enqueue(Format(413, "application/json",
                              TransportError(413, fmt::format("the request body is larger than {} bytes",
                                                              server_->opts.max_body_bytes), "request_too_large"), {}, false), true);
      if (ec == http::error::header_limit)
        return Enqueue(Format(431, "application/json", TransportError(431, "the request headers are too large", "headers_too_large"), {}, false), true);
      return Enqueue(Format(400, "application/json",
                            TransportError(400, "malformed HTTP request: " + ec.message(), "bad_http"), {}, false), true);
    }
    auto req = parser_->release();
    keep_alive_ = req.keep_alive();
    stream_.expires_never();
    SetResponding(true);
    HttpRequest r;
    r.method = std::string(req.method_string());
    r.target = std::string(req.target());
    r.body = std::move(req.body());
    for (const auto& f : req) {
      std::string name(f.name_string());
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      r.headers.push_back({std::move(name), std::string(f.value())});
    }
    Watch();
    server_->handler(std::move(r), MakeResponder());
  }

  // While a response is pending, a read on the socket notices the client leaving (EOF or
  // reset) so its generation is cancelled at once. Bytes that arrive (a pipelined request)
  // stay in the buffer for the next parse.
  void Watch() {
    if (watching_ || buf_.size() > 65536) return;
    watching_ = true;
    stream_.async_read_some(buf_.prepare(4096), [self = shared_from_this()](beast::error_code ec, size_t n) {
      self->watching_ = false;
      if (ec) {
        self->MarkGone();
        if (!self->responding_) self->Close();
        return;
      }
      self->buf_.commit(n);
      if (!self->responding_) self->DoRead();
      else self->Watch();
    });
  }

  void MarkGone() {
    if (gone_) return;
    gone_ = true;
    gone_flag_ = true;
    if (on_gone_) {
      auto fn = std::move(on_gone_);
      on_gone_ = nullptr;
      fn();
    }
  }

  void Enqueue(std::string data, bool last) {
    if (gone_) return;
    out_.push_back(std::move(data));
    if (last) ended_ = true;
    if (!writing_) DoWrite();
  }

  void DoWrite() {
    writing_ = true;
    net::async_write(stream_, net::buffer(out_.front()), [self = shared_from_this()](beast::error_code ec, size_t) {
      self->writing_ = false;
      if (ec) {
        self->out_.clear();
        self->MarkGone();
        return self->Close();
      }
      self->out_.pop_front();
      if (!self->out_.empty()) return self->DoWrite();
      if (self->ended_) self->ResponseDone();
    });
  }

  void SetResponding(bool on) {
    if (on == responding_) return;
    responding_ = on;
    if (on) ++server_->responding;
    else --server_->responding;
  }

  void ResponseDone() {
    SetResponding(false);
    ended_ = false;
    on_gone_ = nullptr;
    if (!keep_alive_ || gone_) return Close();
    if (!watching_) DoRead();  // else the watch's completion continues reading
  }

  void Close() {
    SetResponding(false);
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.socket().close(ec);
  }

  std::shared_ptr<HttpResponder> MakeResponder();

  beast::tcp_stream stream_;
  HttpServer::Impl* server_;
  beast::flat_buffer buf_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::deque<std::string> out_;
  bool writing_ = false, ended_ = false, responding_ = false, watching_ = false, gone_ = false;
  bool keep_alive_ = true;
  std::atomic<bool> gone_flag_{false};
  std::function<void()> on_gone_;
};

// Hands every call over to the session's strand; ignores calls after the final one.
class Responder : public HttpResponder {
 public:
  explicit Responder(std::shared_ptr<Session> s) : s_(std::move(s)) {}
  void Send(int status, std::string_view ctype, std::string body, const Headers& extra) override {
    if (finished_.exchange(true)) return;
    net::post(s_->executor(), [s = s_, status, ctype = std::string(ctype), body = std::move(body), extra] {
      s->SendWhole(status, ctype, body, extra);
    });
  }
  void BeginStream(int status, std::string_view ctype, const Headers& extra) override {
    if (finished_ || started_.exchange(true)) return;
    net::post(s_->executor(), [s = s_, status, ctype = std::string(ctype), extra] { s->SendHead(status, ctype, extra); });
  }
  void Write(std::string data) override {
    if (finished_ || !started_) return;
    net::post(s_->executor(), [s = s_, data = std::move(data)] { s->SendChunk(data); });
  }
  void End() override {
    if (!started_ || finished_.exchange(true)) return;
    net::post(s_->executor(), [s = s_] { s->SendLastChunk(); });
  }
  bool client_gone() const override { return s_->gone(); }
  void OnClientGone(std::function<void()> fn) override {
    net::post(s_->executor(), [s = s_, fn = std::move(fn)]() mutable { s->SetOnGone(std::move(fn)); });
  }

 private:
  std::shared_ptr<Session> s_;
  std::atomic<bool> started_{false}, finished_{false};
};

std::shared_ptr<HttpResponder> Session::MakeResponder() { return std::make_shared<Responder>(shared_from_this()); }

}  // namespace

void HttpServer::Impl::Accept() {
  acceptor.async_accept(net::make_strand(ioc), [this](beast::error_code ec, tcp::socket socket) {
    if (ec == net::error::operation_aborted || !acceptor.is_open()) return;
    if (!ec) {
      auto s = std::make_shared<Session>(std::move(socket), this);
      if (connections > opts.max_connections)
        s->Refuse(503, TransportError(503, "too many open connections", "too_many_connections"));
      else s->Start();
    }
    Accept();
  });
}

Result<std::unique_ptr<HttpServer>> HttpServer::Listen(const HttpOptions& opts, HttpHandler handler) {
  auto impl = std::make_unique<Impl>();
  impl->opts = opts;
  impl->handler = std::move(handler);
  beast::error_code ec;
  tcp::resolver resolver(impl->ioc);
  auto results = resolver.resolve(opts.host, std::to_string(opts.port), tcp::resolver::passive, ec);
  if (ec || results.empty())
    return Status::Errorf("cannot resolve host '{}': {}", opts.host, ec ? ec.message() : "no address");
  tcp::endpoint ep = results.begin()->endpoint();
  auto fail = [&](const char* what) {
    return Status::Errorf("cannot listen on {}:{}: {} failed: {}", opts.host, opts.port, what, ec.message());
  };
  impl->acceptor.open(ep.protocol(), ec);
  if (ec) return fail("open");
  impl->acceptor.set_option(net::socket_base::reuse_address(true), ec);
  impl->acceptor.bind(ep, ec);
  if (ec) return fail("bind");
  impl->acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) return fail("listen");
  impl->port = impl->acceptor.local_endpoint().port();
  impl->Accept();
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpServer::~HttpServer() { Stop(); }

uint16_t HttpServer::port() const { return impl_->port; }

void HttpServer::Run() {
  std::vector<std::thread> extra;
  for (int i = 1; i < impl_->opts.io_threads; ++i) extra.emplace_back([this] { impl_->ioc.run(); });
  impl_->ioc.run();
  for (auto& t : extra) t.join();
}

void HttpServer::StopAccepting() {
  net::post(impl_->ioc, [impl = impl_.get()] {
    beast::error_code ec;
    impl->acceptor.close(ec);
  });
}

void HttpServer::Stop() {
  impl_->work.reset();
  impl_->ioc.stop();
}

size_t HttpServer::open_connections() const { return impl_->connections; }
size_t HttpServer::responses_in_progress() const { return impl_->responding; }

}  // namespace moe::server
