// ParseChatRequest / ParseCompletionRequest: every field, every error with status and param.
#include "server/api/request.h"

#include <gtest/gtest.h>

#include <string>

namespace moe {
namespace {

constexpr const char* kMsgs = R"("messages":[{"role":"user","content":"hi"}])";

// {"messages":[...],<extra>}
std::string Chat(const std::string& extra) {
  std::string body = "{";
  body += kMsgs;
  if (!extra.empty()) body += "," + extra;
  body += "}";
  return body;
}

GenerationRequest OkChat(const std::string& body, const RequestLimits& limits = {}) {
  auto r = ParseChatRequest(body, limits);
  if (auto* e = std::get_if<ApiError>(&r)) ADD_FAILURE() << body << " -> " << e->message;
  return std::holds_alternative<GenerationRequest>(r) ? std::get<GenerationRequest>(r) : GenerationRequest{};
}
GenerationRequest OkCompletion(const std::string& body, const RequestLimits& limits = {}) {
  auto r = ParseCompletionRequest(body, limits);
  if (auto* e = std::get_if<ApiError>(&r)) ADD_FAILURE() << body << " -> " << e->message;
  return std::holds_alternative<GenerationRequest>(r) ? std::get<GenerationRequest>(r) : GenerationRequest{};
}
ApiError ErrOf(const ParsedRequest& r, const std::string& body) {
  if (auto* e = std::get_if<ApiError>(&r)) return *e;
  ADD_FAILURE() << "accepted: " << body;
  return {};
}
ApiError ErrChat(const std::string& body, const RequestLimits& limits = {}) {
  return ErrOf(ParseChatRequest(body, limits), body);
}
ApiError ErrCompletion(const std::string& body, const RequestLimits& limits = {}) {
  return ErrOf(ParseCompletionRequest(body, limits), body);
}

TEST(ChatRequest, Defaults) {
  auto r = OkChat(Chat(""));
  EXPECT_EQ(r.kind, RequestKind::kChat);
  EXPECT_EQ(r.model, "");
  EXPECT_FALSE(r.stream);
  EXPECT_FALSE(r.include_usage);
  EXPECT_FALSE(r.max_tokens.has_value());
  EXPECT_TRUE(r.stop.empty());
  EXPECT_EQ(r.temperature, 1.0);
  EXPECT_EQ(r.top_p, 1.0);
  EXPECT_EQ(r.top_k, 0);
  EXPECT_EQ(r.min_p, 0.0);
  EXPECT_FALSE(r.seed.has_value());
  EXPECT_EQ(r.presence_penalty, 0.0);
  EXPECT_EQ(r.frequency_penalty, 0.0);
  EXPECT_EQ(r.repetition_penalty, 1.0);
  EXPECT_FALSE(r.logprobs);
  EXPECT_EQ(r.top_logprobs, 0);
  EXPECT_TRUE(r.chat_template_kwargs.is_object() && r.chat_template_kwargs.empty());
  EXPECT_EQ(r.messages.dump(), R"([{"role":"user","content":"hi"}])");
}

TEST(ChatRequest, EveryField) {
  auto r = OkChat(Chat(R"("model":"qwen3","stream":true,"stream_options":{"include_usage":true},
      "max_tokens":50,"stop":["\n\n","","END"],"temperature":0.5,"top_p":0.9,"top_k":40,"min_p":0.05,
      "seed":-7,"presence_penalty":-1.5,"frequency_penalty":2,"repetition_penalty":1.1,"logprobs":true,
      "top_logprobs":20,"chat_template_kwargs":{"enable_thinking":false},"user":"u1","n":1,
      "some_unknown_field":{"x":[1,2]},"tools":[])"));
  EXPECT_EQ(r.model, "qwen3");
  EXPECT_TRUE(r.stream);
  EXPECT_TRUE(r.include_usage);
  EXPECT_EQ(r.max_tokens, 50);
  EXPECT_EQ(r.stop, (std::vector<std::string>{"\n\n", "END"}));
  EXPECT_EQ(r.temperature, 0.5);
  EXPECT_EQ(r.top_p, 0.9);
  EXPECT_EQ(r.top_k, 40);
  EXPECT_EQ(r.min_p, 0.05);
  EXPECT_EQ(r.seed, -7);
  EXPECT_EQ(r.presence_penalty, -1.5);
  EXPECT_EQ(r.frequency_penalty, 2.0);
  EXPECT_EQ(r.repetition_penalty, 1.1);
  EXPECT_TRUE(r.logprobs);
  EXPECT_EQ(r.top_logprobs, 20);
  EXPECT_EQ(r.chat_template_kwargs.dump(), R"({"enable_thinking":false})");
  EXPECT_EQ(r.user, "u1");
}

TEST(ChatRequest, NullMeansDefault) {
  auto r = OkChat(Chat(R"("model":null,"temperature":null,"max_tokens":null,"stop":null,"seed":null,
      "stream_options":null,"logprobs":null,"n":null,"chat_template_kwargs":null,"top_k":null)"));
  EXPECT_EQ(r.temperature, 1.0);
  EXPECT_FALSE(r.max_tokens.has_value());
  EXPECT_FALSE(r.seed.has_value());
  EXPECT_TRUE(r.stop.empty());
}

TEST(ChatRequest, MaxCompletionTokensAndStopString) {
  auto r = OkChat(Chat(R"("max_completion_tokens":7,"stop":"###")"));
  EXPECT_EQ(r.max_tokens, 7);
  EXPECT_EQ(r.stop, std::vector<std::string>{"###"});
  EXPECT_TRUE(OkChat(Chat(R"("stop":"")")).stop.empty());
  EXPECT_EQ(OkChat(Chat(R"("max_tokens":100,"max_completion_tokens":9)")).max_tokens, 9);
}

TEST(ChatRequest, SeedRange) {
  EXPECT_EQ(OkChat(Chat(R"("seed":9223372036854775807)")).seed, INT64_MAX);
  auto e = ErrChat(Chat(R"("seed":9223372036854775808)"));
  EXPECT_EQ(e.param, "seed");
  EXPECT_EQ(ErrChat(Chat(R"("seed":1.5)")).param, "seed");
}

TEST(ChatRequest, ContentPartsAreJoinedAndOtherKeysKept) {
  auto r = OkChat(R"({"messages":[
      {"role":"system","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]},
      {"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function"}]},
      {"role":"tool","content":"42","tool_call_id":"c1","name":"calc"},
      {"role":"developer","content":[]},
      {"role":"assistant"}]})");
  EXPECT_EQ(r.messages.dump(), R"([{"role":"system","content":"a\nb"},)"
                               R"({"role":"assistant","content":"","tool_calls":[{"id":"c1","type":"function"}]},)"
                               R"({"role":"tool","content":"42","tool_call_id":"c1","name":"calc"},)"
                               R"({"role":"developer","content":""},{"role":"assistant","content":""}])");
}

struct ErrCase {
  std::string body;
  int status;
  std::string param;
  std::string in_message;  // a fragment the message must contain
};

void ExpectErrors(const std::vector<ErrCase>& cases, bool chat) {
  for (const auto& c : cases) {
    ApiError e = chat ? ErrChat(c.body) : ErrCompletion(c.body);
    EXPECT_EQ(e.http_status, c.status) << c.body << " -> " << e.message;
    EXPECT_EQ(e.type, c.status == 413 ? "request_too_large" : "invalid_request_error") << c.body;
    EXPECT_EQ(e.param, c.param) << c.body << " -> " << e.message;
    EXPECT_NE(e.message.find(c.in_message), std::string::npos) << c.body << " -> " << e.message;
  }
}

TEST(ChatRequest, Errors) {
  ExpectErrors(
      {
          {"", 400, "", "not valid JSON"},
          {"{\"messages\":[", 400, "", "not valid JSON"},
          {"[1,2]", 400, "", "must be a JSON object, found an array of 2"},
          {"\"hi\"", 400, "", "found string \"hi\""},
          {"{}", 400, "messages", "'messages' is required"},
          {R"({"messages":{}})", 400, "messages", "found an object"},
          {R"({"messages":[]})", 400, "messages", "at least one message"},
          {R"({"messages":[3]})", 400, "messages[0]", "must be an object, found number 3"},
          {R"({"messages":[{"content":"x"}]})", 400, "messages[0].role", "found nothing"},
          {R"({"messages":[{"role":"robot","content":"x"}]})", 400, "messages[0].role", "found string \"robot\""},
          {R"({"messages":[{"role":"user","content":"a"},{"role":"user"}]})", 400, "messages[1].content",
           "required for role 'user'"},
          {R"({"messages":[{"role":"user","content":5}]})", 400, "messages[0].content", "found number 5"},
          {R"({"messages":[{"role":"user","content":[{"type":"image_url","image_url":{}}]}]})", 400,
           "messages[0].content[0].type", "found string \"image_url\""},
          {R"({"messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"text"}]}]})", 400,
           "messages[0].content[1].text", "must be a string"},
          {R"({"messages":[{"role":"user","content":["a"]}]})", 400, "messages[0].content[0]", "found string \"a\""},
          {Chat(R"("temperature":"hot")"), 400, "temperature", "must be a number from 0 to 2, found string \"hot\""},
          {Chat(R"("temperature":2.5)"), 400, "temperature", "found number 2.5"},
          {Chat(R"("temperature":-0.1)"), 400, "temperature", "from 0 to 2"},
          {Chat(R"("temperature":true)"), 400, "temperature", "found boolean true"},
          {Chat(R"("top_p":1.5)"), 400, "top_p", "from 0 to 1"},
          {Chat(R"("min_p":-1)"), 400, "min_p", "from 0 to 1"},
          {Chat(R"("presence_penalty":2.1)"), 400, "presence_penalty", "from -2 to 2"},
          {Chat(R"("frequency_penalty":-3)"), 400, "frequency_penalty", "from -2 to 2"},
          {Chat(R"("repetition_penalty":0)"), 400, "repetition_penalty", "greater than 0"},
          {Chat(R"("top_k":-1)"), 400, "top_k", "an integer from 0 to"},
          {Chat(R"("top_k":2.5)"), 400, "top_k", "found number 2.5"},
          {Chat(R"("max_tokens":-1)"), 400, "max_tokens", "an integer from 1 to 1048576, found number -1"},
          {Chat(R"("max_tokens":0)"), 400, "max_tokens", "found number 0"},
          {Chat(R"("max_tokens":"10")"), 400, "max_tokens", "found string \"10\""},
          {Chat(R"("max_tokens":2000000)"), 400, "max_tokens", "from 1 to 1048576"},
          {Chat(R"("max_completion_tokens":1.5)"), 400, "max_completion_tokens", "found number 1.5"},
          {Chat(R"("stop":3)"), 400, "stop", "found number 3"},
          {Chat(R"("stop":["a",1])"), 400, "stop", "found number 1"},
          {Chat(R"("stop":["a","b","c","d","e"])"), 400, "stop",
           "at most 4 strings of at most 256 bytes, found an array of 5"},
          {Chat(R"("stream":"yes")"), 400, "stream", "a boolean"},
          {Chat(R"("stream_options":true)"), 400, "stream_options", "an object"},
          {Chat(R"("stream_options":{"include_usage":1})"), 400, "stream_options.include_usage", "found number 1"},
          {Chat(R"("n":2)"), 400, "n", "from 1 to 1, found number 2"},
          {Chat(R"("model":5)"), 400, "model", "a string"},
          {Chat(R"("user":[])"), 400, "user", "a string"},
          {Chat(R"("logprobs":1)"), 400, "logprobs", "a boolean"},
          {Chat(R"("logprobs":true,"top_logprobs":21)"), 400, "top_logprobs", "from 0 to 20"},
          {Chat(R"("top_logprobs":3)"), 400, "top_logprobs", "needs 'logprobs'"},
          {Chat(R"("chat_template_kwargs":"x")"), 400, "chat_template_kwargs", "an object"},
          {Chat(R"("seed":"1")"), 400, "seed", "an integer"},
      },
      /*chat=*/true);
}

TEST(ChatRequest, InvalidUtf8IsMalformedJson) {
  auto e = ErrChat("{\"messages\":[{\"role\":\"user\",\"content\":\"\xFF\"}]}");
  EXPECT_EQ(e.http_status, 400);
  EXPECT_NE(e.message.find("not valid JSON"), std::string::npos);
}

TEST(ChatRequest, LongFoundStringIsCutAtCharacterBoundary) {
  std::string t(39, 'x');
  t += "\xC3\xA9" + std::string(100, 'y');  // é straddles byte 40
  auto e = ErrChat(Chat("\"temperature\":\"" + t + "\""));
  EXPECT_NE(e.message.find("found string \"" + std::string(39, 'x') + "\"..."), std::string::npos) << e.message;
}

TEST(ChatRequest, Limits) {
  RequestLimits limits;
  limits.max_body_bytes = 100;
  std::string big = Chat("\"user\":\"" + std::string(200, 'u') + "\"");
  auto e = ErrChat(big, limits);
  EXPECT_EQ(e.http_status, 413);
  EXPECT_EQ(e.param, "");

  limits = {};
  limits.max_messages = 2;
  e = ErrChat(
      R"({"messages":[{"role":"user","content":"a"},{"role":"assistant","content":"b"},{"role":"user","content":"c"}]})",
      limits);
  EXPECT_EQ(e.http_status, 413);
  EXPECT_EQ(e.param, "messages");

  limits = {};
  limits.max_content_bytes = 5;
  OkChat(R"({"messages":[{"role":"user","content":"ab"},{"role":"user","content":[{"type":"text","text":"cde"}]}]})",
         limits);
  e = ErrChat(R"({"messages":[{"role":"user","content":"abc"},{"role":"user","content":"def"}]})", limits);
  EXPECT_EQ(e.http_status, 413);
  EXPECT_EQ(e.param, "messages");

  limits = {};
  limits.max_stop = 2;
  limits.max_stop_bytes = 3;
  OkChat(Chat(R"("stop":["abc","de"])"), limits);
  EXPECT_EQ(ErrChat(Chat(R"("stop":["a","b","c"])"), limits).param, "stop");
  EXPECT_EQ(ErrChat(Chat(R"("stop":"abcd")"), limits).param, "stop");

  limits = {};
  limits.max_tokens_cap = 10;
  EXPECT_EQ(OkChat(Chat(R"("max_tokens":10)"), limits).max_tokens, 10);
  EXPECT_EQ(ErrChat(Chat(R"("max_tokens":11)"), limits).param, "max_tokens");

  limits = {};
  limits.max_json_depth = 4;
  OkChat(Chat(R"("x":[[[1]]])"), limits);               // {"x":[[[ is 4 levels
  e = ErrChat(Chat(R"("x":[[[["]]]]]"]]]])"), limits);  // brackets inside strings do not count
  EXPECT_EQ(e.http_status, 400);
  EXPECT_NE(e.message.find("nests more than 4 levels deep"), std::string::npos) << e.message;
}

TEST(ChatRequest, ObjectMemberLimit) {
  RequestLimits limits;
  limits.max_object_keys = 3;
  OkChat(Chat(R"("a":{"x":1,"y":"p:q:r","z":{"u":1,"v":2}})"), limits);  // body itself: messages, a = 2
  auto e = ErrChat(Chat(R"("a":{"w":0,"x":1,"y":2,"z":3})"), limits);
  EXPECT_EQ(e.http_status, 413);
  EXPECT_NE(e.message.find("has 4 members, the limit is 3"), std::string::npos) << e.message;
  e = ErrChat(Chat(R"("a":1,"b":2,"c":3)"), limits);  // the body itself: messages + 3
  EXPECT_EQ(e.http_status, 413);
}

TEST(ChatRequest, DeepNestingIsRefusedBeforeParsing) {
  std::string body = "{\"messages\":" + std::string(100000, '[') + std::string(100000, ']') + "}";
  auto e = ErrChat(body);
  EXPECT_EQ(e.http_status, 400);
  EXPECT_NE(e.message.find("levels deep"), std::string::npos);
}

TEST(CompletionRequest, PromptForms) {
  auto r = OkCompletion(R"({"prompt":"Once upon"})");
  EXPECT_EQ(r.kind, RequestKind::kCompletion);
  EXPECT_EQ(r.prompt, "Once upon");
  EXPECT_TRUE(r.prompt_tokens.empty());
  r = OkCompletion(R"({"prompt":["one string"]})");
  EXPECT_EQ(r.prompt, "one string");
  r = OkCompletion(R"({"prompt":[1,2,2147483647,0]})");
  EXPECT_EQ(r.prompt_tokens, (std::vector<int32_t>{1, 2, 2147483647, 0}));
  EXPECT_EQ(r.prompt, "");
  EXPECT_EQ(OkCompletion(R"({"prompt":""})").prompt, "");
}

TEST(CompletionRequest, Fields) {
  auto r = OkCompletion(R"({"prompt":"x","echo":true,"logprobs":3,"max_tokens":16,"stop":["."],"temperature":0,
      "stream":true,"stream_options":{"include_usage":false},"seed":42,"top_k":5,"ignore_eos":true})");
  EXPECT_TRUE(r.echo);
  EXPECT_TRUE(r.ignore_eos);
  EXPECT_FALSE(OkCompletion(R"({"prompt":"x"})").ignore_eos);
  EXPECT_TRUE(r.logprobs);
  EXPECT_EQ(r.top_logprobs, 3);
  EXPECT_EQ(r.max_tokens, 16);
  EXPECT_EQ(r.stop, std::vector<std::string>{"."});
  EXPECT_EQ(r.temperature, 0.0);
  EXPECT_TRUE(r.stream);
  EXPECT_FALSE(r.include_usage);
  EXPECT_EQ(r.seed, 42);
  EXPECT_EQ(r.top_k, 5);
  r = OkCompletion(R"({"prompt":"x","logprobs":0})");
  EXPECT_TRUE(r.logprobs);
  EXPECT_EQ(r.top_logprobs, 0);
  r = OkCompletion(R"({"prompt":"x","logprobs":null})");
  EXPECT_FALSE(r.logprobs);
  // messages and chat_template_kwargs are unknown to completions: ignored.
  r = OkCompletion(R"({"prompt":"x","messages":5,"chat_template_kwargs":1})");
  EXPECT_TRUE(r.messages.empty());
}

TEST(CompletionRequest, Errors) {
  ExpectErrors(
      {
          {"{}", 400, "prompt", "'prompt' is required"},
          {R"({"prompt":null})", 400, "prompt", "is required"},
          {R"({"prompt":5})", 400, "prompt", "found number 5"},
          {R"({"prompt":[]})", 400, "prompt", "found an array of 0"},
          {R"({"prompt":["a","b"]})", 400, "prompt", "batched prompts are not supported"},
          {R"({"prompt":[[1,2]]})", 400, "prompt", "batched prompts"},
          {R"({"prompt":[1,-2]})", 400, "prompt[1]", "found number -2"},
          {R"({"prompt":[1,2147483648]})", 400, "prompt[1]", "token id from 0 to 2147483647"},
          {R"({"prompt":[1,1.5]})", 400, "prompt[1]", "found number 1.5"},
          {R"({"prompt":[1,true]})", 400, "prompt[1]", "found boolean true"},
          {R"({"prompt":"x","logprobs":6})", 400, "logprobs", "from 0 to 5"},
          {R"({"prompt":"x","logprobs":true})", 400, "logprobs", "found boolean true"},
          {R"({"prompt":"x","echo":"no"})", 400, "echo", "a boolean"},
          {R"({"prompt":"x","ignore_eos":1})", 400, "ignore_eos", "a boolean"},
          {R"({"prompt":"x","n":3})", 400, "n", "found number 3"},
          {R"({"prompt":"x","top_p":2})", 400, "top_p", "from 0 to 1"},
      },
      /*chat=*/false);
}

TEST(CompletionRequest, Limits) {
  RequestLimits limits;
  limits.max_prompt_tokens = 3;
  OkCompletion(R"({"prompt":[1,2,3]})", limits);
  auto e = ErrCompletion(R"({"prompt":[1,2,3,4]})", limits);
  EXPECT_EQ(e.http_status, 413);
  EXPECT_EQ(e.param, "prompt");
  limits = {};
  limits.max_content_bytes = 4;
  OkCompletion(R"({"prompt":"abcd"})", limits);
  e = ErrCompletion(R"({"prompt":["abcde"]})", limits);
  EXPECT_EQ(e.http_status, 413);
  EXPECT_EQ(e.param, "prompt");
}

}  // namespace
}  // namespace moe
