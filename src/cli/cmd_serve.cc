// `moe serve`: the OpenAI-compatible HTTP server. It listens first (so /health answers
// "loading" while the weights load), then serves through the continuous-batching scheduler.
// SIGTERM or SIGINT drains: stop accepting, let running requests finish (or cancel them
// after --drain-timeout), answer the queued ones 503, exit 0.
#include <fmt/format.h>
#include <signal.h>

#include <filesystem>
#include <thread>

#include "cli/common.h"
#include "engine/scheduler.h"
#include "model/synth.h"
#include "server/http_server.h"
#include "server/openai_service.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace moe::cli {

namespace {

struct ServeFlags {
  std::string host = "127.0.0.1";
  int port = 8080;
  std::string api_key;
  size_t parallel = 4;
  size_t ctx_size = 4096;
  size_t max_queue = 64;
  double queue_timeout_s = 30;
  size_t step_tokens = 256;
  std::string alias;
  std::string chat_template_file;
  int io_threads = 1;
  size_t max_body_mb = 8;
  double drain_timeout_s = 30;
};

std::string DefaultAlias(const std::string& path) {
  std::filesystem::path p(path);
  if (p.filename().empty()) p = p.parent_path();
  return p.extension() == ".gguf" ? p.stem().string() : p.filename().string();
}

}  // namespace

void RegisterServe(CLI::App& app, std::vector<std::pair<CLI::App*, Action>>* out) {
  auto* cmd = app.add_subcommand("serve", "serve the model over an OpenAI-compatible HTTP API");
  auto f = std::make_shared<CommonFlags>();
  auto s = std::make_shared<ServeFlags>();
  AddModelFlags(cmd, f.get());
  cmd->add_option("--host", s->host, "address to listen on")->capture_default_str();
  cmd->add_option("--port", s->port, "port to listen on (0: any free port)")->check(CLI::Range(0, 65535))->capture_default_str();
  cmd->add_option("--api-key", s->api_key, "require 'Authorization: Bearer KEY' on /v1 routes (default: $MOE_API_KEY)")
      ->envname("MOE_API_KEY");
  cmd->add_option("--parallel", s->parallel, "requests generating at once (one KV cache each)")
      ->check(CLI::Range(1, 1024))->capture_default_str();
  cmd->add_option("-c,--ctx-size", s->ctx_size, "context size per request, in tokens")
      ->check(CLI::Range(16, 1 << 22))->capture_default_str();
  cmd->add_option("--max-queue", s->max_queue, "requests waiting for a slot; more get 503 at once")
      ->check(CLI::Range(0, 1 << 20))->capture_default_str();
  cmd->add_option("--queue-timeout", s->queue_timeout_s, "seconds a request may wait for a slot before 503")
      ->check(CLI::Range(0.0, 86400.0))->capture_default_str();
  cmd->add_option("-b,--step-tokens", s->step_tokens, "most tokens per batched step (prompts are prefilled in chunks)")
      ->check(CLI::Range(1, 1 << 16))->capture_default_str();
  cmd->add_option("--alias", s->alias, "model id reported by the API (default: the file name)");
  cmd->add_option("--chat-template", s->chat_template_file, "Jinja chat template file (default: the model's own, else ChatML)");
  cmd->add_option("--io-threads", s->io_threads, "HTTP I/O threads")->check(CLI::Range(1, 64))->capture_default_str();
  cmd->add_option("--max-body-mb", s->max_body_mb, "largest request body (MB); larger get 413")
      ->check(CLI::Range(1, 1024))->capture_default_str();
  cmd->add_option("--drain-timeout", s->drain_timeout_s, "seconds running requests may take to finish on SIGTERM")
      ->check(CLI::Range(0.0, 3600.0))->capture_default_str();
  out->push_back({cmd, [=]() {
    // Signals are taken by sigwait() below: block them before any thread starts.
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
    signal(SIGPIPE, SIG_IGN);

    std::string tmpl_source;
    if (!s->chat_template_file.empty()) {
      auto text = ReadTextFile(s->chat_template_file);
      if (!text.ok()) return Fail(text.status());
      tmpl_source = std::move(*text);
    }
    server::ServiceOptions so;
    so.alias = s->alias.empty() ? DefaultAlias(f->model) : s->alias;
    so.api_key = s->api_key;
    so.limits.max_body_bytes = s->max_body_mb << 20;
    server::OpenAiService service(so);
    server::HttpOptions ho;
    ho.host = s->host;
    ho.port = static_cast<uint16_t>(s->port);
    ho.io_threads = s->io_threads;
    ho.max_body_bytes = s->max_body_mb << 20;
    auto http = server::HttpServer::Listen(ho, [&service](server::HttpRequest&& r, std::shared_ptr<server::HttpResponder> w) {
      service.Handle(std::move(r), std::move(w));
    });
    if (!http.ok()) return Fail(http.status());
    fmt::print(stderr, "moe serve: listening on http://{}:{} (loading {})\n", s->host, (*http)->port(), f->model);
    std::thread io([&] { (*http)->Run(); });
    auto stop_io = [&] {
      (*http)->Stop();
      io.join();
    };

    auto model = LoadModel(*f);
    if (!model.ok()) return stop_io(), Fail(model.status());
    auto tok = ModelTokenizer(**model, f->model);
    if (!tok.ok()) return stop_io(), Fail(tok.status());
    if (tmpl_source.empty()) tmpl_source = ChatTemplateSource(**model, f->model);
    if (tmpl_source.empty()) tmpl_source = kChatMlTemplate;
    auto tmpl = ChatTemplate::Parse(tmpl_source);
    if (!tmpl.ok()) return stop_io(), Fail(tmpl.status().WithContext("chat template"));
    SchedulerOptions sched_opts{.parallel = s->parallel, .ctx_size = s->ctx_size, .max_queue = s->max_queue,
                                .queue_timeout = std::chrono::milliseconds(static_cast<int64_t>(s->queue_timeout_s * 1000)),
                                .step_tokens = s->step_tokens};
    Scheduler sched(**model, GlobalPool(), sched_opts);
    service.SetModel({.model = model->get(), .tokenizer = tok->get(), .chat_template = &*tmpl,
                      .scheduler = &sched, .eog_ids = (*tok)->EogIds()});
    const double kv_gb = static_cast<double>(s->parallel * s->ctx_size * (*model)->KvBytesPerToken()) / 1e9;
    fmt::print(stderr, "moe serve: ready: model '{}', {} slots x {} tokens ({:.2f} GB KV cache), {} threads\n", so.alias,
               s->parallel, s->ctx_size, kv_gb, GlobalPool().size());

    int sig = 0;
    sigwait(&sigs, &sig);
    fmt::print(stderr, "moe serve: {} received: draining ({} in flight)\n", sig == SIGTERM ? "SIGTERM" : "SIGINT",
               service.in_flight());
    service.SetDraining();
    (*http)->StopAccepting();
    sched.Drain(std::chrono::milliseconds(static_cast<int64_t>(s->drain_timeout_s * 1000)));
    // Every job has answered; give the I/O threads a moment to write the last bytes.
    for (int i = 0; i < 200 && (service.in_flight() > 0 || (*http)->responses_in_progress() > 0); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    stop_io();
    fmt::print(stderr, "moe serve: stopped\n");
    return 0;
  }});
}

}  // namespace moe::cli
