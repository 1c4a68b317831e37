#include "server/openai_service.h"

#include <fmt/format.h>

#include <chrono>
#include <ctime>
#include <random>

#include "engine/chat_prompt.h"
#include "server/api/filters.h"

namespace moe::server {

namespace {

using Json = nlohmann::ordered_json;
using Clock = std::chrono::steady_clock;

std::string Dump(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

std::string RandomId(std::string_view prefix) {
  static thread_local std::mt19937_64 rng(std::random_device{}());
  return fmt::format("{}{:016x}{:08x}", prefix, rng(), static_cast<uint32_t>(rng()));
}

const Headers kCors = {{"Access-Control-Allow-Origin", "*"}};

// "/v1/chat/completions?x=1" → "/v1/chat/completions"; the /v1 prefix is optional.
std::string Route(std::string_view target) {
  std::string path(target.substr(0, target.find('?')));
  if (path.size() > 1 && path.back() == '/') path.pop_back();
  if (path.rfind("/v1/", 0) == 0) path = path.substr(3);
  return path;
}

bool ConstantTimeEqual(std::string_view a, std::string_view b) {
  unsigned diff = a.size() != b.size();
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

Json TokenBytesJson(std::string_view bytes) {
  Json arr = Json::array();
  for (unsigned char c : bytes) arr.push_back(static_cast<int>(c));
  return arr;
}

}  // namespace

// One generation request from arrival to its last byte. Built on an I/O thread, then used
// only on the scheduler thread (the job's callbacks).
struct OpenAiService::Call {
  OpenAiService* service;
  std::shared_ptr<HttpResponder> res;
  const ServedModel* served;
  RequestKind kind;
  std::string endpoint;
  GenerationRequest req;
  std::string id;
  int64_t created;
  Clock::time_point arrived, last_token;
  bool first_token = true, stream_started = false;

  StreamDecoder decoder;
  StopFilter stop;
  ReasoningSplitter splitter;
  std::string content, reasoning;  // whole response (non-stream)
  Json logprobs = Json::array();   // chat: content entries; completions: built at the end
  std::vector<SampledToken> sampled;
  std::string echo_prefix;
  bool echo_sent = false;

  Call(OpenAiService* s, std::shared_ptr<HttpResponder> r, const ServedModel* m, RequestKind k, GenerationRequest q,
       bool starts_in_reasoning)
      : service(s), res(std::move(r)), served(m), kind(k), req(std::move(q)),
        id(RandomId(k == RequestKind::kChat ? "chatcmpl-" : "cmpl-")), created(std::time(nullptr)),
        arrived(Clock::now()), decoder(*m->tokenizer, /*skip_special=*/true), stop(req.stop),
        splitter(starts_in_reasoning) {
    endpoint = k == RequestKind::kChat ? "/v1/chat/completions" : "/v1/completions";
  }

  Json LogprobEntry(const SampledToken& t) const {
    const Tokenizer& tok = *served->tokenizer;
    std::string_view bytes = tok.TokenBytes(t.id);
    Json e = {{"token", std::string(bytes)}, {"logprob", t.logprob}, {"bytes", TokenBytesJson(bytes)}};
    Json top = Json::array();
    for (auto [tid, lp] : t.top) {
      std::string_view b = tok.TokenBytes(tid);
      top.push_back({{"token", std::string(b)}, {"logprob", lp}, {"bytes", TokenBytesJson(b)}});
    }
    e["top_logprobs"] = std::move(top);
    return e;
  }

  Json ChunkBase() const {
    return {{"id", id}, {"object", kind == RequestKind::kChat ? "chat.completion.chunk" : "text_completion"},
            {"created", created}, {"model", service->opts_.alias}, {"system_fingerprint", "moe.cpp"}};
  }

  // Headers and, for chat, the opening role chunk: sent with the first generated token (even
  // one with no visible text yet), so clients see time to first token as it is.
  void StartStream() {
    if (stream_started) return;
    res->BeginStream(200, "text/event-stream", kCors);
    stream_started = true;
    if (kind == RequestKind::kChat) {
      Json first = ChunkBase();
      first["choices"] = Json::array({{{"index", 0}, {"delta", {{"role", "assistant"}, {"content", ""}}},
                                       {"logprobs", nullptr}, {"finish_reason", nullptr}}});
      res->Write("data: " + Dump(first) + "\n\n");
    }
  }

  void SendEvent(const Json& j) {
    StartStream();
    res->Write("data: " + Dump(j) + "\n\n");
  }

  // Completions with echo, streamed: the prompt goes first, once the request is running (a
  // refused request must still be able to answer with an error status).
  void EmitEcho() {
    if (echo_sent || echo_prefix.empty()) return;
    echo_sent = true;
    Json chunk = ChunkBase();
    chunk["choices"] = Json::array({{{"text", echo_prefix}, {"index", 0}, {"logprobs", nullptr}, {"finish_reason", nullptr}}});
    SendEvent(chunk);
  }

  // Text that passed the stop filter: to the splitter (chat) and out.
  void Emit(const std::string& text, const SampledToken* tok) {
    if (kind == RequestKind::kChat) {
      auto d = splitter.Push(text);
      EmitParts(d.content, d.reasoning, tok);
    } else {
      EmitParts(text, "", tok);
    }
  }

  // Content and reasoning text (and the token's logprobs): kept for the whole response, or
  // sent as one chunk when streaming.
  void EmitParts(const std::string& c, const std::string& r, const SampledToken* tok) {
    content += c;
    reasoning += r;
    if (!req.stream) return;
    const bool lp = tok && req.logprobs;
    if (c.empty() && r.empty() && !lp) return;
    Json chunk = ChunkBase();
    Json choice;
    if (kind == RequestKind::kChat) {
      Json delta = Json::object();
      if (!r.empty()) delta["reasoning_content"] = r;
      if (!c.empty() || r.empty()) delta["content"] = c;
      choice = {{"index", 0}, {"delta", delta}, {"logprobs", nullptr}, {"finish_reason", nullptr}};
      if (lp) choice["logprobs"] = {{"content", Json::array({LogprobEntry(*tok)})}};
    } else {
      choice = {{"text", c}, {"index", 0}, {"logprobs", nullptr}, {"finish_reason", nullptr}};
      if (lp) choice["logprobs"] = CompletionLogprobs({*tok}, 0);
    }
    chunk["choices"] = Json::array({choice});
    SendEvent(chunk);
  }

  Json CompletionLogprobs(const std::vector<SampledToken>& toks, size_t offset0) const {
    const Tokenizer& tok = *served->tokenizer;
    Json tokens = Json::array(), lps = Json::array(), tops = Json::array(), offsets = Json::array();
    size_t offset = offset0;
    for (const auto& t : toks) {
      std::string piece(tok.TokenBytes(t.id));
      tokens.push_back(piece);
      lps.push_back(t.logprob);
      Json top = Json::object();
      for (auto [tid, lp] : t.top) top[std::string(tok.TokenBytes(tid))] = lp;
      tops.push_back(std::move(top));
      offsets.push_back(offset);
      offset += piece.size();
    }
    return {{"tokens", tokens}, {"token_logprobs", lps}, {"top_logprobs", tops}, {"text_offset", offsets}};
  }

  bool OnToken(const SampledToken& t) {
    const auto now = Clock::now();
    if (first_token) service->metrics_.ObserveTimeToFirstToken(std::chrono::duration<double>(now - arrived).count());
    else service->metrics_.ObserveInterTokenLatency(std::chrono::duration<double>(now - last_token).count());
    first_token = false;
    last_token = now;
    if (req.stream) {
      StartStream();
      EmitEcho();
    }
    if (req.logprobs) sampled.push_back(t);
    std::string text = stop.Push(decoder.Push(t.id));
    Emit(text, &t);
    return !stop.stopped();
  }

  void OnDone(FinishReason reason, const Status& st, const GenerationJob& job) {
    const double seconds = std::chrono::duration<double>(Clock::now() - arrived).count();
    auto finish = [&](int status) {
      service->metrics_.CountRequest(endpoint, status);
      service->metrics_.ObserveRequestDuration(seconds);
      service->metrics_.AddPromptTokens(job.prompt_tokens);
      service->metrics_.AddGeneratedTokens(job.generated_tokens);
      --service->in_flight_;
    };
    if (reason == FinishReason::kRejected || reason == FinishReason::kError) {
      const bool rejected = reason == FinishReason::kRejected;
      ApiError e = rejected ? Overloaded(st.message()) : ServerError(st.message());
      if (stream_started) {  // too late for a status: an error event, then the end
        res->Write("data: " + ErrorBody(e) + "\n\n");
        res->End();
      } else {
        Headers h = kCors;
        if (rejected) h.push_back({"Retry-After", std::to_string(service->opts_.retry_after_s)});
        res->Send(e.http_status, "application/json", ErrorBody(e), h);
      }
      return finish(e.http_status);
    }
    if (reason == FinishReason::kCancelled) {
      res->End();
      return finish(499);  // client closed the request (nginx's convention)
    }
    // The held-back text: what the decoder kept for a whole character, then the filters'.
    if (!stop.stopped()) {
      std::string tail = stop.Push(decoder.Flush());
      if (!stop.stopped()) tail += stop.Flush();
      Emit(tail, nullptr);
    }
    if (kind == RequestKind::kChat) {
      auto d = splitter.Flush();
      EmitParts(d.content, d.reasoning, nullptr);
    }
    if (req.stream) EmitEcho();  // nothing was generated: the echo still comes first
    const char* finish_reason = reason == FinishReason::kLength ? "length" : "stop";
    Json usage = {{"prompt_tokens", job.prompt_tokens}, {"completion_tokens", job.generated_tokens},
                  {"total_tokens", job.prompt_tokens + job.generated_tokens},
                  {"prompt_tokens_details", {{"cached_tokens", job.cached_tokens}}}};
    if (req.stream) {
      Json chunk = ChunkBase();
      if (kind == RequestKind::kChat)
        chunk["choices"] = Json::array({{{"index", 0}, {"delta", Json::object()}, {"logprobs", nullptr}, {"finish_reason", finish_reason}}});
      else
        chunk["choices"] = Json::array({{{"text", ""}, {"index", 0}, {"logprobs", nullptr}, {"finish_reason", finish_reason}}});
      SendEvent(chunk);
      if (req.include_usage) {
        Json u = ChunkBase();
        u["choices"] = Json::array();
        u["usage"] = usage;
        SendEvent(u);
      }
      res->Write("data: [DONE]\n\n");
      res->End();
      return finish(200);
    }
    Json body = {{"id", id}, {"object", kind == RequestKind::kChat ? "chat.completion" : "text_completion"},
                 {"created", created}, {"model", service->opts_.alias}, {"system_fingerprint", "moe.cpp"}};
    if (kind == RequestKind::kChat) {
      Json msg = {{"role", "assistant"}, {"content", content}};
      if (!reasoning.empty()) msg["reasoning_content"] = reasoning;
      Json lp = nullptr;
      if (req.logprobs) {
        Json entries = Json::array();
        for (const auto& t : sampled) entries.push_back(LogprobEntry(t));
        lp = {{"content", entries}};
      }
      body["choices"] = Json::array({{{"index", 0}, {"message", msg}, {"logprobs", lp}, {"finish_reason", finish_reason}}});
    } else {
      Json lp = req.logprobs ? CompletionLogprobs(sampled, echo_prefix.size()) : Json(nullptr);
      body["choices"] = Json::array({{{"text", echo_prefix + content}, {"index", 0}, {"logprobs", lp}, {"finish_reason", finish_reason}}});
    }
    body["usage"] = usage;
    res->Send(200, "application/json", Dump(body), kCors);
    finish(200);
  }
};

OpenAiService::OpenAiService(ServiceOptions opts) : opts_(std::move(opts)), created_(std::time(nullptr)) {}

void OpenAiService::SetModel(const ServedModel& m) {
  served_storage_ = std::make_unique<ServedModel>(m);
  served_ = served_storage_.get();
}

void OpenAiService::Reply(const std::shared_ptr<HttpResponder>& res, std::string_view endpoint, int status,
                          std::string body, std::string_view ctype, Headers extra) {
  metrics_.CountRequest(endpoint, status);
  for (const auto& h : kCors) extra.push_back(h);
  res->Send(status, ctype, std::move(body), extra);
}

void OpenAiService::ReplyError(const std::shared_ptr<HttpResponder>& res, std::string_view endpoint,
                               const ApiError& e, Headers extra) {
  Reply(res, endpoint, e.http_status, ErrorBody(e), "application/json", std::move(extra));
}

std::string OpenAiService::ModelsBody() const {
  Json model = {{"id", opts_.alias}, {"object", "model"}, {"created", created_}, {"owned_by", "moe.cpp"}};
  if (const ServedModel* m = served_.load()) {
    const auto& s = m->model->stats();
    model["meta"] = {{"architecture", m->model->config().architecture}, {"n_params", s.total},
                     {"n_active_params", s.active_per_token}, {"size", s.weight_bytes},
                     {"n_ctx", m->scheduler->options().ctx_size}, {"n_vocab", m->model->config().vocab_size}};
  }
  return Dump(Json{{"object", "list"}, {"data", Json::array({model})}});
}

void OpenAiService::Handle(HttpRequest&& req, std::shared_ptr<HttpResponder> res) {
  const std::string path = Route(req.target);
  if (req.method == "OPTIONS") {  // CORS preflight from browser front-ends
    return Reply(res, path, 204, "", "text/plain",
                 {{"Access-Control-Allow-Methods", "GET, POST, OPTIONS"},
                  {"Access-Control-Allow-Headers", "Authorization, Content-Type"}});
  }
  const ServedModel* served = served_.load();
  if (path == "/health") {
    if (!served) return Reply(res, path, 503, R"({"status":"loading"})");
    return Reply(res, path, 200, R"({"status":"ok"})");
  }
  if (path == "/metrics") {
    if (served) {
      auto l = served->scheduler->load();
      metrics_.SetRequestsRunning(static_cast<int64_t>(l.running));
      metrics_.SetRequestsQueued(static_cast<int64_t>(l.queued));
      metrics_.SetKvCacheUsageRatio(l.kv_capacity ? static_cast<double>(l.kv_used) / l.kv_capacity : 0.0);
    }
    return Reply(res, path, 200, metrics_.RenderPrometheus(), "text/plain; version=0.0.4; charset=utf-8");
  }
  const bool known = path == "/models" || path == "/chat/completions" || path == "/completions";
  if (!known) return ReplyError(res, "other", NotFound(fmt::format("unknown route {} {}", req.method, path), "", "unknown_route"));
  const std::string endpoint = "/v1" + path;
  if (!opts_.api_key.empty()) {
    std::string auth = req.Header("authorization");
    const std::string_view bearer = "Bearer ";
    if (auth.rfind(bearer, 0) != 0 || !ConstantTimeEqual(std::string_view(auth).substr(bearer.size()), opts_.api_key))
      return ReplyError(res, endpoint, AuthenticationError(auth.empty() ? "missing API key: send 'Authorization: Bearer <key>'"
                                                                          : "invalid API key"));
  }
  if (path == "/models") {
    if (req.method != "GET") return ReplyError(res, endpoint, ApiError{405, "invalid_request_error", "use GET for " + endpoint, "", "method_not_allowed"});
    return Reply(res, endpoint, 200, ModelsBody());
  }
  if (req.method != "POST") return ReplyError(res, endpoint, ApiError{405, "invalid_request_error", "use POST for " + endpoint, "", "method_not_allowed"});
  if (!served) return ReplyError(res, endpoint, Overloaded("the model is still loading"), {{"Retry-After", std::to_string(opts_.retry_after_s)}});
  if (draining_) return ReplyError(res, endpoint, Overloaded("the server is shutting down"), {{"Retry-After", std::to_string(opts_.retry_after_s)}});
  Generate(path == "/chat/completions" ? RequestKind::kChat : RequestKind::kCompletion, std::move(req), std::move(res));
}

void OpenAiService::Generate(RequestKind kind, HttpRequest&& http, std::shared_ptr<HttpResponder> res) {
  const ServedModel* m = served_.load();
  const std::string endpoint = kind == RequestKind::kChat ? "/v1/chat/completions" : "/v1/completions";
  ParsedRequest parsed = kind == RequestKind::kChat ? ParseChatRequest(http.body, opts_.limits)
                                                    : ParseCompletionRequest(http.body, opts_.limits);
  if (auto* e = std::get_if<ApiError>(&parsed)) return ReplyError(res, endpoint, *e);
  GenerationRequest req = std::move(std::get<GenerationRequest>(parsed));
  const Tokenizer& tok = *m->tokenizer;
  const size_t ctx = m->scheduler->options().ctx_size;

  // The prompt as tokens.
  std::vector<int32_t> prompt;
  bool opens_think = false;
  std::string echo;
  if (kind == RequestKind::kChat) {
    auto chat = BuildChatPrompt(*m->chat_template, tok, req.messages, req.chat_template_kwargs);
    if (!chat.ok()) return ReplyError(res, endpoint, InvalidRequest("messages", "chat template: " + chat.status().message()));
    prompt = std::move(chat->tokens);
    opens_think = PromptOpensThinkBlock(chat->text);
  } else if (!req.prompt_tokens.empty()) {
    for (int32_t id : req.prompt_tokens)
      if (id < 0 || static_cast<size_t>(id) >= tok.vocab_size())
        return ReplyError(res, endpoint, InvalidRequest("prompt", fmt::format("token id {} is outside the vocabulary (size {})", id, tok.vocab_size())));
    prompt = req.prompt_tokens;
    if (req.echo) echo = tok.Decode(prompt);
  } else {
    prompt = tok.Encode(req.prompt, /*add_special=*/true, /*parse_special=*/false);
    if (req.echo) echo = req.prompt;
  }
  if (prompt.empty()) return ReplyError(res, endpoint, InvalidRequest(kind == RequestKind::kChat ? "messages" : "prompt", "the prompt is empty"));
  if (prompt.size() >= ctx)
    return ReplyError(res, endpoint,
                      ApiError{400, "invalid_request_error",
                               fmt::format("This model's maximum context length is {} tokens. However, your {} resulted in {} tokens "
                                           "(at least one token must be left to generate).",
                                           ctx, kind == RequestKind::kChat ? "messages" : "prompt", prompt.size()),
                               kind == RequestKind::kChat ? "messages" : "prompt", "context_length_exceeded"});

  auto job = std::make_shared<GenerationJob>();
  job->prompt = std::move(prompt);
  job->sampling.temperature = static_cast<float>(req.temperature);
  job->sampling.top_p = static_cast<float>(req.top_p);
  job->sampling.top_k = req.top_k;
  job->sampling.min_p = static_cast<float>(req.min_p);
  job->sampling.presence_penalty = static_cast<float>(req.presence_penalty);
  job->sampling.frequency_penalty = static_cast<float>(req.frequency_penalty);
  job->sampling.repetition_penalty = static_cast<float>(req.repetition_penalty);
  job->sampling.seed = req.seed ? static_cast<uint64_t>(*req.seed) : std::random_device{}();
  job->max_tokens = req.max_tokens ? static_cast<size_t>(*req.max_tokens) : 0;
  if (!req.ignore_eos) job->stop_ids = m->eog_ids;
  job->top_logprobs = req.logprobs ? req.top_logprobs : -1;
  if (Status v = job->sampling.Validate(); !v.ok()) return ReplyError(res, endpoint, InvalidRequest("", v.message()));

  auto call = std::make_shared<Call>(this, res, m, kind, std::move(req), opens_think);
  call->echo_prefix = std::move(echo);
  job->on_token = [call](const SampledToken& t) { return call->OnToken(t); };
  std::weak_ptr<GenerationJob> weak = job;
  job->on_done = [call, weak](FinishReason r, const Status& st) {
    if (auto j = weak.lock()) call->OnDone(r, st, *j);
  };
  res->OnClientGone([weak] {
    if (auto j = weak.lock()) j->cancel = true;
  });
  ++in_flight_;
  Status s = m->scheduler->Submit(job);
  if (!s.ok()) {
    --in_flight_;
    job->on_done = nullptr;
    return ReplyError(res, endpoint, Overloaded(s.message()), {{"Retry-After", std::to_string(opts_.retry_after_s)}});
  }
}

}  // namespace moe::server
