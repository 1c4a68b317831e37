// ParseChatRequest / ParseCompletionRequest: JSON body -> GenerationRequest or ApiError.
#include "server/api/request.h"

#include <fmt/format.h>

#include <array>
#include <cmath>
#include <functional>
#include <limits>
#include <utility>

namespace moe {
namespace {

using Json = nlohmann::ordered_json;

// "string \"hot\"", "number -1", "array", ... for the "found" half of a message. Strings are
// cut to ~40 bytes; dump(replace) keeps the text valid UTF-8.
std::string Describe(const Json& v) {
  switch (v.type()) {
    case Json::value_t::null:
      return "null";
    case Json::value_t::boolean:
      return fmt::format("boolean {}", v.get<bool>());
    case Json::value_t::object:
      return "an object";
    case Json::value_t::array:
      return fmt::format("an array of {}", v.size());
    case Json::value_t::string: {
      const auto& s = v.get_ref<const std::string&>();
      std::string cut = s.substr(0, 40);
      while (!cut.empty() && cut.size() < s.size() && (static_cast<unsigned char>(s[cut.size()]) & 0xC0) == 0x80)
        cut.pop_back();  // do not split a UTF-8 character
      std::string shown = Json(cut).dump(-1, ' ', false, Json::error_handler_t::replace);
      return fmt::format("string {}{}", shown, cut.size() < s.size() ? "..." : "");
    }
    default:
      return fmt::format("number {}", v.dump());
  }
}

// Nesting depth and the most members of any one object, counted without parsing (brackets
// and colons outside strings), so a hostile body can neither make the parser recurse deeply
// nor make ordered_json's linear key lookup quadratic. Scanning stops past `depth_limit`.
struct Shape {
  size_t depth = 0;
  size_t object_keys = 0;
};
Shape ScanShape(std::string_view text, size_t depth_limit) {
  Shape shape;
  std::vector<std::pair<bool, size_t>> open;  // per open container: is object, members seen
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      open.emplace_back(c == '{', 0);
      shape.depth = std::max(shape.depth, open.size());
      if (shape.depth > depth_limit) break;
    } else if ((c == ']' || c == '}') && !open.empty()) {
      open.pop_back();
    } else if (c == ':' && !open.empty() && open.back().first) {
      shape.object_keys = std::max(shape.object_keys, ++open.back().second);
    }
  }
  return shape;
}

// Reads known fields of one JSON object, keeping the first error. Absent and null fields
// leave the output at its default.
class FieldReader {
 public:
  explicit FieldReader(const Json& obj, std::string prefix = "") : obj_(obj), prefix_(std::move(prefix)) {}

  bool ok() const { return !error.has_value(); }
  std::optional<ApiError> error;

  // The value of `key`, or nullptr when absent or null.
  const Json* Find(const char* key) const {
    auto it = obj_.find(key);
    return it == obj_.end() || it->is_null() ? nullptr : &*it;
  }

  void Fail(const std::string& key, const std::string& expected, const Json& found) {
    if (!error)
      error = InvalidRequest(prefix_ + key,
                             fmt::format("'{}{}' must be {}, found {}", prefix_, key, expected, Describe(found)));
  }

  void Bool(const char* key, bool& out) {
    const Json* v = Find(key);
    if (!v || !ok()) return;
    if (!v->is_boolean()) return Fail(key, "a boolean", *v);
    out = v->get<bool>();
  }

  void String(const char* key, std::string& out) {
    const Json* v = Find(key);
    if (!v || !ok()) return;
    if (!v->is_string()) return Fail(key, "a string", *v);
    out = v->get<std::string>();
  }

  // A number for which in_range(value) holds; `expected` describes the range.
  void Number(const char* key, double& out, const std::function<bool(double)>& in_range, const std::string& expected) {
    const Json* v = Find(key);
    if (!v || !ok()) return;
    if (!v->is_number() || !in_range(v->get<double>()) || !std::isfinite(v->get<double>()))
      return Fail(key, expected, *v);
    out = v->get<double>();
  }
  void Number(const char* key, double& out, double lo, double hi) {
    Number(
        key, out, [&](double x) { return x >= lo && x <= hi; }, fmt::format("a number from {} to {}", lo, hi));
  }

  // An integer in [lo, hi]; floats such as 1.5 or 1.0 are refused, as OpenAI does.
  template <typename T>
  void Int(const char* key, T& out, int64_t lo, int64_t hi) {
    const Json* v = Find(key);
    if (!v || !ok()) return;
    std::string expected = fmt::format("an integer from {} to {}", lo, hi);
    if (!v->is_number_integer()) return Fail(key, expected, *v);
    if (v->is_number_unsigned() && v->get<uint64_t>() > static_cast<uint64_t>(hi)) return Fail(key, expected, *v);
    int64_t x = v->get<int64_t>();
    if (x < lo || x > hi) return Fail(key, expected, *v);
    out = static_cast<T>(x);
  }

 private:
  const Json& obj_;
  std::string prefix_;
};

constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();
constexpr int64_t kInt32Max = std::numeric_limits<int32_t>::max();

// Fields shared by chat and completions.
void ReadCommon(FieldReader& r, const RequestLimits& limits, GenerationRequest& req) {
  r.String("model", req.model);
  r.Bool("stream", req.stream);
  r.Bool("ignore_eos", req.ignore_eos);
  if (const Json* so = r.Find("stream_options"); so && r.ok()) {
    if (!so->is_object()) return r.Fail("stream_options", "an object", *so);
    FieldReader sr(*so, "stream_options.");
    sr.Bool("include_usage", req.include_usage);
    if (!sr.ok()) r.error = sr.error;
  }
  int64_t max_tokens = 0;
  bool has_max = false;
  for (const char* key : {"max_tokens", "max_completion_tokens"}) {  // the newer name wins
    if (r.Find(key)) {
      r.Int(key, max_tokens, 1, limits.max_tokens_cap);
      has_max = true;
    }
  }
  if (has_max && r.ok()) req.max_tokens = max_tokens;

  if (const Json* stop = r.Find("stop"); stop && r.ok()) {
    const std::string expected = fmt::format("a string or an array of at most {} strings of at most {} bytes",
                                             limits.max_stop, limits.max_stop_bytes);
    std::vector<std::string> stops;
    if (stop->is_string()) {
      stops.push_back(stop->get<std::string>());
    } else if (stop->is_array() && stop->size() <= limits.max_stop) {
      for (const Json& s : *stop) {
        if (!s.is_string()) return r.Fail("stop", expected, s);
        stops.push_back(s.get<std::string>());
      }
    } else {
      return r.Fail("stop", expected, *stop);
    }
    for (auto& s : stops) {
      if (s.size() > limits.max_stop_bytes) return r.Fail("stop", expected, Json(s));
      if (!s.empty()) req.stop.push_back(std::move(s));
    }
  }

  r.Number("temperature", req.temperature, 0.0, 2.0);
  r.Number("top_p", req.top_p, 0.0, 1.0);
  r.Int("top_k", req.top_k, 0, kInt32Max);
  r.Number("min_p", req.min_p, 0.0, 1.0);
  int64_t seed = 0;
  if (r.Find("seed")) {
    r.Int("seed", seed, std::numeric_limits<int64_t>::min(), kInt64Max);
    if (r.ok()) req.seed = seed;
  }
  r.Number("presence_penalty", req.presence_penalty, -2.0, 2.0);
  r.Number("frequency_penalty", req.frequency_penalty, -2.0, 2.0);
  r.Number(
      "repetition_penalty", req.repetition_penalty, [](double x) { return x > 0; }, "a number greater than 0");
  int64_t n = 1;
  r.Int("n", n, 1, 1);
  r.String("user", req.user);
}

// Parses the body into an object, enforcing size and depth limits.
std::variant<Json, ApiError> ParseBody(std::string_view body, const RequestLimits& limits) {
  if (body.size() > limits.max_body_bytes)
    return RequestTooLarge(
        "", fmt::format("request body is {} bytes, the limit is {}", body.size(), limits.max_body_bytes));
  Shape shape = ScanShape(body, limits.max_json_depth);
  if (shape.depth > limits.max_json_depth)
    return InvalidRequest("", fmt::format("request body nests more than {} levels deep", limits.max_json_depth));
  if (shape.object_keys > limits.max_object_keys)
    return RequestTooLarge("", fmt::format("a JSON object in the body has {} members, the limit is {}",
                                           shape.object_keys, limits.max_object_keys));
  Json j;
  try {
    j = Json::parse(body.begin(), body.end());
  } catch (const Json::exception& e) {
    return InvalidRequest("", fmt::format("request body is not valid JSON: {}", e.what()));
  }
  if (!j.is_object())
    return InvalidRequest("", fmt::format("request body must be a JSON object, found {}", Describe(j)));
  return j;
}

constexpr std::array<std::string_view, 5> kRoles = {"system", "developer", "user", "assistant", "tool"};

// Normalizes message `i` in place: content becomes one string. Adds its bytes to `bytes`.
std::optional<ApiError> NormalizeMessage(Json& m, size_t i, size_t& bytes) {
  const std::string where = fmt::format("messages[{}]", i);
  if (!m.is_object()) return InvalidRequest(where, fmt::format("'{}' must be an object, found {}", where, Describe(m)));
  auto role = m.find("role");
  if (role == m.end() || !role->is_string())
    return InvalidRequest(where + ".role",
                          fmt::format("'{}.role' must be one of system, developer, user, assistant, tool; found {}",
                                      where, role == m.end() ? "nothing" : Describe(*role)));
  const std::string r = role->get<std::string>();
  bool known = false;
  for (auto k : kRoles) known |= (r == k);
  if (!known)
    return InvalidRequest(where + ".role",
                          fmt::format("'{}.role' must be one of system, developer, user, assistant, tool; found {}",
                                      where, Describe(*role)));

  auto content = m.find("content");
  if (content == m.end() || content->is_null()) {
    if (r != "assistant")  // an assistant turn may carry only tool_calls
      return InvalidRequest(where + ".content", fmt::format("'{}.content' is required for role '{}'", where, r));
    m["content"] = "";
    return std::nullopt;
  }
  if (content->is_string()) {
    bytes += content->get_ref<const std::string&>().size();
    return std::nullopt;
  }
  if (!content->is_array())
    return InvalidRequest(
        where + ".content",
        fmt::format("'{}.content' must be a string or an array of text parts, found {}", where, Describe(*content)));
  std::string text;
  for (size_t j = 0; j < content->size(); ++j) {
    const Json& part = (*content)[j];
    const std::string pwhere = fmt::format("{}.content[{}]", where, j);
    if (!part.is_object())
      return InvalidRequest(pwhere, fmt::format("'{}' must be an object {{\"type\":\"text\",\"text\":...}}, found {}",
                                                pwhere, Describe(part)));
    auto type = part.find("type");
    if (type == part.end() || !type->is_string() || type->get_ref<const std::string&>() != "text")
      return InvalidRequest(
          pwhere + ".type",
          fmt::format("'{}.type' must be \"text\" (other content part types are not supported), found {}", pwhere,
                      type == part.end() ? "nothing" : Describe(*type)));
    auto t = part.find("text");
    if (t == part.end() || !t->is_string())
      return InvalidRequest(pwhere + ".text", fmt::format("'{}.text' must be a string, found {}", pwhere,
                                                          t == part.end() ? "nothing" : Describe(*t)));
    if (j > 0) text += '\n';
    text += t->get_ref<const std::string&>();
  }
  bytes += text.size();
  *content = std::move(text);
  return std::nullopt;
}

}  // namespace

ParsedRequest ParseChatRequest(std::string_view body, const RequestLimits& limits) {
  auto parsed = ParseBody(body, limits);
  if (auto* e = std::get_if<ApiError>(&parsed)) return *e;
  Json& j = std::get<Json>(parsed);
  GenerationRequest req;
  req.kind = RequestKind::kChat;

  auto messages = j.find("messages");
  if (messages == j.end() || messages->is_null()) return InvalidRequest("messages", "'messages' is required");
  if (!messages->is_array())
    return InvalidRequest("messages",
                          fmt::format("'messages' must be an array of messages, found {}", Describe(*messages)));
  if (messages->empty())
    return InvalidRequest("messages", "'messages' must contain at least one message, found an empty array");
  if (messages->size() > limits.max_messages)
    return RequestTooLarge(
        "messages", fmt::format("'messages' has {} entries, the limit is {}", messages->size(), limits.max_messages));
  size_t bytes = 0;
  for (size_t i = 0; i < messages->size(); ++i) {
    if (auto e = NormalizeMessage((*messages)[i], i, bytes)) return *e;
  }
  if (bytes > limits.max_content_bytes)
    return RequestTooLarge(
        "messages", fmt::format("message contents total {} bytes, the limit is {}", bytes, limits.max_content_bytes));
  req.messages = std::move(*messages);

  FieldReader r(j);
  ReadCommon(r, limits, req);
  r.Bool("logprobs", req.logprobs);
  r.Int("top_logprobs", req.top_logprobs, 0, 20);
  if (r.ok() && req.top_logprobs > 0 && !req.logprobs)
    return InvalidRequest("top_logprobs",
                          "'top_logprobs' needs 'logprobs' set to true, found logprobs false or absent");
  if (const Json* kw = r.Find("chat_template_kwargs"); kw && r.ok()) {
    if (!kw->is_object())
      r.Fail("chat_template_kwargs", "an object", *kw);
    else
      req.chat_template_kwargs = *kw;
  }
  if (!r.ok()) return *r.error;
  return req;
}

ParsedRequest ParseCompletionRequest(std::string_view body, const RequestLimits& limits) {
  auto parsed = ParseBody(body, limits);
  if (auto* e = std::get_if<ApiError>(&parsed)) return *e;
  Json& j = std::get<Json>(parsed);
  GenerationRequest req;
  req.kind = RequestKind::kCompletion;

  auto prompt = j.find("prompt");
  const char* expected = "a string, an array of token ids, or an array holding one string";
  if (prompt == j.end() || prompt->is_null()) return InvalidRequest("prompt", "'prompt' is required");
  if (prompt->is_string()) {
    req.prompt = prompt->get<std::string>();
  } else if (prompt->is_array() && prompt->size() == 1 && (*prompt)[0].is_string()) {
    req.prompt = (*prompt)[0].get<std::string>();
  } else if (prompt->is_array() && !prompt->empty()) {
    if (prompt->size() > limits.max_prompt_tokens)
      return RequestTooLarge(
          "prompt", fmt::format("'prompt' has {} tokens, the limit is {}", prompt->size(), limits.max_prompt_tokens));
    req.prompt_tokens.reserve(prompt->size());
    for (size_t i = 0; i < prompt->size(); ++i) {
      const Json& t = (*prompt)[i];
      if (t.is_string() || t.is_array())
        return InvalidRequest(
            "prompt", fmt::format("'prompt' must be {}; batched prompts are not supported, found {} at prompt[{}]",
                                  expected, Describe(t), i));
      bool in_range = t.is_number_unsigned() ? t.get<uint64_t>() <= static_cast<uint64_t>(kInt32Max)
                                             : t.is_number_integer() && t.get<int64_t>() >= 0;
      if (!in_range)
        return InvalidRequest(
            fmt::format("prompt[{}]", i),
            fmt::format("'prompt[{}]' must be a token id from 0 to {}, found {}", i, kInt32Max, Describe(t)));
      req.prompt_tokens.push_back(static_cast<int32_t>(t.get<int64_t>()));
    }
  } else {
    return InvalidRequest("prompt", fmt::format("'prompt' must be {}, found {}", expected, Describe(*prompt)));
  }
  if (req.prompt.size() > limits.max_content_bytes)
    return RequestTooLarge(
        "prompt", fmt::format("'prompt' is {} bytes, the limit is {}", req.prompt.size(), limits.max_content_bytes));

  FieldReader r(j);
  ReadCommon(r, limits, req);
  r.Bool("echo", req.echo);
  if (r.Find("logprobs")) {
    r.Int("logprobs", req.top_logprobs, 0, 5);
    req.logprobs = r.ok();
  }
  if (!r.ok()) return *r.error;
  return req;
}

}  // namespace moe
