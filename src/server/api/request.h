// Parsing and validation of OpenAI-compatible request bodies (/v1/chat/completions,
// /v1/completions) into one GenerationRequest. Bodies are untrusted: every failure is an
// ApiError (400, or 413 for size limits) naming the field, never an exception or abort.
//
// Rules: unknown fields are ignored; a known field with the wrong type is an error; `null`
// for an optional field means its default. Ranges follow OpenAI (see docs/server.md).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "server/api/errors.h"

namespace moe {

enum class RequestKind { kChat, kCompletion };

// Server-side bounds. Size limits answer 413 request_too_large; per-field bounds answer 400.
struct RequestLimits {
  size_t max_body_bytes = 16u << 20;          // 413 (param null) when the body is longer
  size_t max_json_depth = 64;                 // 400 when arrays/objects nest deeper
  size_t max_object_keys = 1024;              // 413 when one object has more members
  size_t max_messages = 4096;                 // 413 param "messages"
  size_t max_content_bytes = 8u << 20;        // 413: all message contents, or the prompt text
  size_t max_prompt_tokens = 1u << 20;        // 413 param "prompt": token-id prompts
  size_t max_stop = 4;                        // 400 param "stop": entries in the list
  size_t max_stop_bytes = 256;                // 400 param "stop": bytes per entry
  int64_t max_tokens_cap = int64_t{1} << 20;  // 400 param "max_tokens" when larger
};

struct GenerationRequest {
  RequestKind kind = RequestKind::kChat;
  std::string model;  // "" when absent; the server decides whether it names a loaded model

  // Chat: the messages with every "content" normalized to a plain string (text parts joined
  // with "\n", null/absent assistant content -> ""); other keys (name, tool_calls,
  // tool_call_id, ...) are kept as given.
  nlohmann::ordered_json messages = nlohmann::ordered_json::array();
  nlohmann::ordered_json chat_template_kwargs = nlohmann::ordered_json::object();

  // Completions: either text (prompt) or token ids (prompt_tokens, non-empty), never both.
  std::string prompt;
  std::vector<int32_t> prompt_tokens;
  bool echo = false;
  bool ignore_eos = false;  // llama.cpp extension: generate past end-of-generation tokens (benchmarks)

  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage

  std::optional<int64_t> max_tokens;  // max_tokens or max_completion_tokens; none = context end
  std::vector<std::string> stop;      // empty strings dropped

  double temperature = 1.0;  // 0..2 (OpenAI default 1)
  double top_p = 1.0;        // 0..1
  int32_t top_k = 0;         // >= 0, 0 = off (llama.cpp extension)
  double min_p = 0.0;        // 0..1
  std::optional<int64_t> seed;
  double presence_penalty = 0.0;    // -2..2
  double frequency_penalty = 0.0;   // -2..2
  double repetition_penalty = 1.0;  // > 0 (extension), 1 = off

  // Chat: logprobs (bool) + top_logprobs (0..20). Completions: logprobs N (0..5) sets
  // logprobs = true and top_logprobs = N.
  bool logprobs = false;
  int32_t top_logprobs = 0;

  std::string user;
};

// Either the request or the error to answer with. Check with std::get_if<ApiError>.
using ParsedRequest = std::variant<GenerationRequest, ApiError>;

ParsedRequest ParseChatRequest(std::string_view body, const RequestLimits& limits = {});
ParsedRequest ParseCompletionRequest(std::string_view body, const RequestLimits& limits = {});

}  // namespace moe
