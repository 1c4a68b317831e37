// The server end to end, in process: a synth model behind the scheduler, the OpenAI service
// and the HTTP server on a free port, driven by a plain socket client (so the bytes on the
// wire are what is checked). Hostile requests get OpenAI-shaped errors and the server keeps
// serving; concurrent seeded streams match their solo runs; a client that leaves mid-stream
// frees its slot; a full queue answers 503 with Retry-After.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>

#include "engine/scheduler.h"
#include "model/synth.h"
#include "server/http_server.h"
#include "server/openai_service.h"

namespace moe::server {
namespace {

using Json = nlohmann::json;

struct Reply {
  int status = 0;
  std::string head, body;
  std::string Header(const std::string& lower) const {
    std::string h = head;
    for (char& c : h) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    size_t p = h.find("\r\n" + lower + ":");
    if (p == std::string::npos) return "";
    p += lower.size() + 3;
    size_t e = h.find("\r\n", p);
    std::string v = head.substr(p, e - p);
    while (!v.empty() && v[0] == ' ') v.erase(0, 1);
    return v;
  }
};

int Connect(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

void SendAll(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t n = send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return;
    off += static_cast<size_t>(n);
  }
}

std::string RequestText(const std::string& method, const std::string& path, const std::string& body,
                        const std::string& extra_headers) {
  return method + " " + path + " HTTP/1.1\r\nHost: test\r\nConnection: close\r\nContent-Type: application/json\r\n" +
         "Content-Length: " + std::to_string(body.size()) + "\r\n" + extra_headers + "\r\n" + body;
}

std::string Dechunk(const std::string& s) {
  std::string out;
  size_t p = 0;
  while (p < s.size()) {
    size_t e = s.find("\r\n", p);
    if (e == std::string::npos) break;
    size_t n = std::stoul(s.substr(p, e - p), nullptr, 16);
    if (n == 0) break;
    out += s.substr(e + 2, n);
    p = e + 2 + n + 2;
  }
  return out;
}

// One request on its own connection; reads until the server closes it.
Reply Call(uint16_t port, const std::string& method, const std::string& path, const std::string& body = "",
           const std::string& extra_headers = "") {
  Reply r;
  int fd = Connect(port);
  if (fd < 0) return r;
  SendAll(fd, RequestText(method, path, body, extra_headers));
  std::string all;
  char buf[65536];
  for (ssize_t n; (n = recv(fd, buf, sizeof(buf), 0)) > 0;) all.append(buf, static_cast<size_t>(n));
  close(fd);
  size_t he = all.find("\r\n\r\n");
  if (he == std::string::npos || all.size() < 12) return r;
  r.status = std::stoi(all.substr(9, 3));
  r.head = all.substr(0, he + 2);
  r.body = all.substr(he + 4);
  if (r.Header("transfer-encoding") == "chunked") r.body = Dechunk(r.body);
  return r;
}

// The text of a streamed chat completion (content deltas joined) and its finish reason.
std::pair<std::string, std::string> StreamedText(const std::string& sse) {
  std::string text, finish;
  size_t p = 0;
  while ((p = sse.find("data: ", p)) != std::string::npos) {
    size_t e = sse.find("\n\n", p);
    std::string data = sse.substr(p + 6, e - p - 6);
    p = e;
    if (data == "[DONE]") break;
    Json j = Json::parse(data);
    for (auto& c : j["choices"]) {
      if (c["delta"].contains("content")) text += c["delta"]["content"].get<std::string>();
      if (!c["finish_reason"].is_null()) finish = c["finish_reason"].get<std::string>();
    }
  }
  return {text, finish};
}

const std::string kKey = "Authorization: Bearer sekrit\r\n";

// A served synth model; parallel / queue sizes per test.
class Served {
 public:
  Served(size_t parallel, size_t max_queue, size_t ctx = 256, const std::string& chat_template = kChatMlTemplate) {
    path_ = (std::filesystem::temp_directory_path() / ("moe_server_test_" + std::to_string(getpid()) + "_" +
                                                       std::to_string(parallel) + ".gguf")).string();
    SynthOptions so;
    so.arch = "deepseek-v3";
    so.type = DType::kQ8_0;
    EXPECT_TRUE(SynthesizeModel(so, path_).ok());
    auto m = Model::Load(path_, {});
    EXPECT_TRUE(m.ok()) << m.status().message();
    model_ = std::move(*m);
    model_->SetQuantizedActivations(true);
    auto t = Tokenizer::FromGguf(*model_->gguf());
    EXPECT_TRUE(t.ok());
    tok_ = std::move(*t);
    auto tmpl = ChatTemplate::Parse(chat_template);
    EXPECT_TRUE(tmpl.ok());
    tmpl_.emplace(std::move(*tmpl));
    sched_ = std::make_unique<Scheduler>(*model_, pool_, SchedulerOptions{.parallel = parallel, .ctx_size = ctx,
                                                                           .max_queue = max_queue, .step_tokens = 64});
    ServiceOptions o;
    o.alias = "synth";
    o.api_key = "sekrit";
    service_ = std::make_unique<OpenAiService>(o);
    service_->SetModel({model_.get(), tok_.get(), &*tmpl_, sched_.get(), tok_->EogIds()});
    HttpOptions h;
    h.port = 0;
    h.max_body_bytes = 64 << 10;
    auto http = HttpServer::Listen(h, [this](HttpRequest&& r, std::shared_ptr<HttpResponder> w) {
      service_->Handle(std::move(r), std::move(w));
    });
    EXPECT_TRUE(http.ok());
    http_ = std::move(*http);
    io_ = std::thread([this] { http_->Run(); });
  }
  ~Served() {
    http_->Stop();
    io_.join();
    sched_.reset();
    std::filesystem::remove(path_);
  }
  uint16_t port() const { return http_->port(); }
  const Tokenizer& tokenizer() const { return *tok_; }
  const ChatTemplate& chat_template() const { return *tmpl_; }
  Scheduler& sched() { return *sched_; }
  OpenAiService& service() { return *service_; }

 private:
  std::string path_;
  ThreadPool pool_{2};
  std::unique_ptr<Model> model_;
  std::unique_ptr<Tokenizer> tok_;
  std::optional<ChatTemplate> tmpl_;
  std::unique_ptr<Scheduler> sched_;
  std::unique_ptr<OpenAiService> service_;
  std::unique_ptr<HttpServer> http_;
  std::thread io_;
};

std::string Chat(const std::string& content, const std::string& extra_fields = "") {
  Json m = Json::array({{{"role", "user"}, {"content", content}}});
  return R"({"messages":)" + m.dump() + extra_fields + "}";
}

TEST(Server, HealthSaysLoadingUntilTheModelIsSet) {
  OpenAiService service({});
  auto http = HttpServer::Listen({.port = 0}, [&](HttpRequest&& r, std::shared_ptr<HttpResponder> w) {
    service.Handle(std::move(r), std::move(w));
  });
  ASSERT_TRUE(http.ok());
  std::thread io([&] { (*http)->Run(); });
  Reply r = Call((*http)->port(), "GET", "/health");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(Json::parse(r.body)["status"], "loading");
  r = Call((*http)->port(), "POST", "/v1/chat/completions", Chat("hi"));
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(Json::parse(r.body)["error"]["type"], "overloaded_error");
  (*http)->Stop();
  io.join();
}

TEST(Server, HostileRequestsGetOpenAiErrorsAndTheServerKeepsServing) {
  Served s(2, 8, 64);
  const std::string long_prompt(2000, 'x');
  struct Case {
    std::string name, method, path, body, headers;
    int status;
    std::string type, param;
  };
  const std::vector<Case> cases = {
      {"no key", "POST", "/v1/chat/completions", Chat("hi"), "", 401, "authentication_error", ""},
      {"wrong key", "POST", "/v1/chat/completions", Chat("hi"), "Authorization: Bearer nope\r\n", 401, "authentication_error", ""},
      {"malformed JSON", "POST", "/v1/chat/completions", R"({"messages": [)", kKey, 400, "invalid_request_error", ""},
      {"not an object", "POST", "/v1/chat/completions", "[1,2]", kKey, 400, "invalid_request_error", ""},
      {"wrong type", "POST", "/v1/chat/completions", Chat("hi", R"(,"temperature":"hot")"), kKey, 400, "invalid_request_error", "temperature"},
      {"negative max_tokens", "POST", "/v1/chat/completions", Chat("hi", R"(,"max_tokens":-1)"), kKey, 400, "invalid_request_error", "max_tokens"},
      {"stop of wrong type", "POST", "/v1/chat/completions", Chat("hi", R"(,"stop":3)"), kKey, 400, "invalid_request_error", "stop"},
      {"messages not array", "POST", "/v1/chat/completions", R"({"messages":{}})", kKey, 400, "invalid_request_error", "messages"},
      {"empty messages", "POST", "/v1/chat/completions", R"({"messages":[]})", kKey, 400, "invalid_request_error", "messages"},
      {"unknown role", "POST", "/v1/chat/completions", R"({"messages":[{"role":"wizard","content":"hi"}]})", kKey, 400, "invalid_request_error", ""},
      {"n=2", "POST", "/v1/chat/completions", Chat("hi", R"(,"n":2)"), kKey, 400, "invalid_request_error", "n"},
      {"prompt longer than the context", "POST", "/v1/chat/completions", Chat(long_prompt), kKey, 400, "invalid_request_error", "messages"},
      {"completion prompt too long", "POST", "/v1/completions", R"({"prompt":")" + long_prompt + R"("})", kKey, 400, "invalid_request_error", "prompt"},
      {"token id outside vocab", "POST", "/v1/completions", R"({"prompt":[1,2,99999]})", kKey, 400, "invalid_request_error", "prompt"},
      {"body over the limit", "POST", "/v1/chat/completions", Chat(std::string(100 << 10, 'y')), kKey, 413, "invalid_request_error", ""},
      {"unknown route", "GET", "/v1/engines", "", kKey, 404, "not_found_error", ""},
      {"wrong method", "GET", "/v1/chat/completions", "", kKey, 405, "invalid_request_error", ""},
  };
  for (const Case& c : cases) {
    Reply r = Call(s.port(), c.method, c.path, c.body, c.headers);
    EXPECT_EQ(r.status, c.status) << c.name << ": " << r.body;
    Json j = Json::parse(r.body, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << c.name << ": body is not JSON: " << r.body;
    ASSERT_TRUE(j.contains("error") && j["error"].contains("message")) << c.name << ": " << r.body;
    EXPECT_EQ(j["error"]["type"], c.type) << c.name;
    if (!c.param.empty()) {
      EXPECT_EQ(j["error"]["param"], c.param) << c.name;
    }
  }
  // The context error carries the numbers.
  Reply r = Call(s.port(), "POST", "/v1/chat/completions", Chat(long_prompt), kKey);
  EXPECT_NE(r.body.find("maximum context length is 64 tokens"), std::string::npos) << r.body;
  // A request that is not HTTP at all.
  int fd = Connect(s.port());
  SendAll(fd, "\x01\x02 garbage\r\n\r\n");
  char buf[512];
  ssize_t n = recv(fd, buf, sizeof(buf), 0);
  close(fd);
  EXPECT_GT(n, 0);
  EXPECT_EQ(std::string(buf, n > 12 ? 12 : 0), "HTTP/1.1 400");
  // Still serving. (ignore_eos: the random model at temperature 1 draws an end token within
  // three tokens about once in a few hundred runs.)
  EXPECT_EQ(Call(s.port(), "GET", "/health").status, 200);
  r = Call(s.port(), "POST", "/v1/chat/completions", Chat("hello", R"(,"max_tokens":3,"ignore_eos":true)"), kKey);
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Json::parse(r.body)["usage"]["completion_tokens"], 3);
}

TEST(Server, SixteenConcurrentSeededStreamsMatchTheirSoloRuns) {
  Served s(4, 64);
  constexpr int kClients = 16;
  auto body = [](int i, bool stream) {
    return Chat("Tell me about topic " + std::to_string(i),
                R"(,"max_tokens":20,"temperature":0.9,"top_p":0.95,"seed":)" + std::to_string(100 + i) +
                    (stream ? R"(,"stream":true)" : ""));
  };
  std::vector<std::string> streamed(kClients), finish(kClients);
  std::vector<std::thread> clients;
  for (int i = 0; i < kClients; ++i)
    clients.emplace_back([&, i] {
      Reply r = Call(s.port(), "POST", "/v1/chat/completions", body(i, true), kKey);
      EXPECT_EQ(r.status, 200);
      EXPECT_EQ(r.Header("content-type"), "text/event-stream");
      std::tie(streamed[i], finish[i]) = StreamedText(r.body);
    });
  for (auto& t : clients) t.join();
  for (int i = 0; i < kClients; ++i) {
    Reply r = Call(s.port(), "POST", "/v1/chat/completions", body(i, false), kKey);
    ASSERT_EQ(r.status, 200) << r.body;
    Json j = Json::parse(r.body);
    EXPECT_EQ(streamed[i], j["choices"][0]["message"]["content"].get<std::string>()) << "client " << i;
    EXPECT_EQ(finish[i], j["choices"][0]["finish_reason"].get<std::string>()) << "client " << i;
  }
}

TEST(Server, StopStringsAreNeverEmitted) {
  Served s(2, 8);
  const std::string req = Chat("stop test", R"(,"max_tokens":24,"temperature":0)");
  Json full = Json::parse(Call(s.port(), "POST", "/v1/chat/completions", req, kKey).body);
  std::string text = full["choices"][0]["message"]["content"];
  ASSERT_GE(text.size(), 8u) << text;
  const std::string stop = text.substr(4, 2);
  const std::string want = text.substr(0, text.find(stop));
  for (const char* stream : {"false", "true"}) {
    Json stops = Json::array({"\x01never", stop});
    Reply r = Call(s.port(), "POST", "/v1/chat/completions",
                   Chat("stop test", R"(,"max_tokens":24,"temperature":0,"stop":)" + stops.dump() + R"(,"stream":)" + stream), kKey);
    ASSERT_EQ(r.status, 200);
    if (std::string(stream) == "true") {
      auto [got, reason] = StreamedText(r.body);
      EXPECT_EQ(got, want);
      EXPECT_EQ(reason, "stop");
    } else {
      Json j = Json::parse(r.body);
      EXPECT_EQ(j["choices"][0]["message"]["content"], want);
      EXPECT_EQ(j["choices"][0]["finish_reason"], "stop");
    }
  }
}

TEST(Server, ClientLeavingMidStreamFreesItsSlot) {
  Served s(1, 0, 4096);
  int fd = Connect(s.port());
  SendAll(fd, RequestText("POST", "/v1/chat/completions",
                          Chat("go on forever", R"(,"stream":true,"temperature":1,"max_tokens":100000,"ignore_eos":true)"), kKey));
  std::string got;
  char buf[4096];
  while (got.find("data: ") == std::string::npos) {
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    ASSERT_GT(n, 0);
    got.append(buf, static_cast<size_t>(n));
  }
  // While it runs the only slot is taken and the queue holds nothing: 503 with Retry-After.
  Reply busy = Call(s.port(), "POST", "/v1/chat/completions", Chat("me too"), kKey);
  EXPECT_EQ(busy.status, 503) << busy.body;
  EXPECT_EQ(busy.Header("retry-after"), "1");
  EXPECT_EQ(Json::parse(busy.body)["error"]["type"], "overloaded_error");
  close(fd);
  // The generation is cancelled at the next step; wait (bounded) for the slot to free.
  for (int i = 0; i < 500 && s.sched().load().running > 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(s.sched().load().running, 0u);
  Reply r = Call(s.port(), "POST", "/v1/chat/completions", Chat("next", R"(,"max_tokens":2)"), kKey);
  EXPECT_EQ(r.status, 200) << r.body;
  Reply m = Call(s.port(), "GET", "/metrics");
  EXPECT_NE(m.body.find(R"(status="499")"), std::string::npos) << m.body;
}

// A template that opens a think block (as DeepSeek-R1's and Qwen3's do): the reply is
// reasoning until </think>. The random model never closes it, so all of the raw text (the
// same prompt through /v1/completions as token ids) must arrive as reasoning_content.
TEST(Server, ThinkBlockGoesToReasoningContent) {
  const std::string think = std::string(kChatMlTemplate).replace(std::string(kChatMlTemplate).rfind("' }}"), 4,
                                                                 "<think>\\n' }}");
  Served s(2, 8, 256, think);
  Json ctx = {{"messages", Json::array({{{"role", "user"}, {"content", "why?"}}})}, {"add_generation_prompt", true}};
  auto rendered = s.chat_template().Render(nlohmann::ordered_json(ctx));
  ASSERT_TRUE(rendered.ok());
  ASSERT_NE(rendered->find("<think>\n"), std::string::npos) << *rendered;
  Json ids = s.tokenizer().Encode(*rendered, true, true);
  Json raw = Json::parse(Call(s.port(), "POST", "/v1/completions",
                              R"({"max_tokens":12,"temperature":0,"prompt":)" + ids.dump() + "}", kKey).body);
  const std::string text = raw["choices"][0]["text"];
  ASSERT_EQ(text.find("</think>"), std::string::npos);
  Json chat = Json::parse(Call(s.port(), "POST", "/v1/chat/completions", Chat("why?", R"(,"max_tokens":12,"temperature":0)"), kKey).body);
  EXPECT_EQ(chat["choices"][0]["message"]["content"], "");
  EXPECT_EQ(chat["choices"][0]["message"]["reasoning_content"], text);
  Reply r = Call(s.port(), "POST", "/v1/chat/completions", Chat("why?", R"(,"max_tokens":12,"temperature":0,"stream":true)"), kKey);
  std::string reasoning;
  for (size_t p = 0; (p = r.body.find("data: {", p)) != std::string::npos; ++p) {
    Json j = Json::parse(r.body.substr(p + 6, r.body.find("\n\n", p) - p - 6));
    for (auto& c : j["choices"])
      if (c["delta"].contains("reasoning_content")) reasoning += c["delta"]["reasoning_content"].get<std::string>();
  }
  EXPECT_EQ(reasoning, text);
}

TEST(Server, CompletionsUsageAndLogprobs) {
  Served s(2, 8);
  Reply r = Call(s.port(), "POST", "/v1/completions",
                 R"({"prompt":"Once upon a time","max_tokens":5,"temperature":0,"logprobs":2,"echo":true})", kKey);
  ASSERT_EQ(r.status, 200) << r.body;
  Json j = Json::parse(r.body);
  EXPECT_EQ(j["object"], "text_completion");
  EXPECT_EQ(j["usage"]["completion_tokens"], 5);
  EXPECT_EQ(j["usage"]["total_tokens"], j["usage"]["prompt_tokens"].get<int>() + 5);
  EXPECT_EQ(j["choices"][0]["text"].get<std::string>().rfind("Once upon a time", 0), 0u);
  auto& lp = j["choices"][0]["logprobs"];
  ASSERT_EQ(lp["tokens"].size(), 5u);
  for (size_t i = 0; i < 5; ++i) {
    EXPECT_LE(lp["token_logprobs"][i].get<double>(), 0.0);
    EXPECT_EQ(lp["top_logprobs"][i].size(), 2u);
    // Greedy: the chosen token is the most likely one.
    double best = -1e9;
    for (auto& [k, v] : lp["top_logprobs"][i].items()) best = std::max(best, v.get<double>());
    EXPECT_DOUBLE_EQ(lp["token_logprobs"][i].get<double>(), best);
  }
  // Streamed with echo: the prompt text comes first, then the same completion.
  r = Call(s.port(), "POST", "/v1/completions",
           R"({"prompt":"Once upon a time","max_tokens":5,"temperature":0,"echo":true,"stream":true})", kKey);
  ASSERT_EQ(r.status, 200) << r.body;
  std::string streamed;
  for (size_t p = 0; (p = r.body.find("data: {", p)) != std::string::npos; ++p) {
    Json c = Json::parse(r.body.substr(p + 6, r.body.find("\n\n", p) - p - 6));
    for (auto& ch : c["choices"]) streamed += ch["text"].get<std::string>();
  }
  EXPECT_EQ(streamed, j["choices"][0]["text"].get<std::string>());
  r = Call(s.port(), "GET", "/v1/models", "", kKey);
  EXPECT_EQ(Json::parse(r.body)["data"][0]["id"], "synth");
}

}  // namespace
}  // namespace moe::server
