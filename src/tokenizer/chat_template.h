// Chat templates: a built-in Jinja2 interpreter that renders Hugging Face chat templates
// (tokenizer_config.json "chat_template") exactly as transformers' apply_chat_template does
// (Jinja2 3.1, trim_blocks + lstrip_blocks, raise_exception, strftime_now, tojson as
// json.dumps). The interpreter lives in tokenizer/jinja/; this header is its whole API.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "base/status.h"

namespace moe {

namespace jinja {
struct Program;
}  // namespace jinja

// Why and where parsing or rendering failed. Status messages carry the same information as
// "line L, column C: message" (a raise_exception() message is reported verbatim).
struct TemplateError {
  enum class Kind { kSyntax, kRaised, kRuntime };
  Kind kind = Kind::kRuntime;
  std::string message;  // without the location prefix
  int line = 0;         // 1-based; 0 when unknown
  int column = 0;
};

struct ChatTemplateOptions {
  // The instant strftime_now() formats, as naive local wall-clock time (the fields of the
  // time point are used as is; no time zone applies). nullopt: the current local time.
  std::optional<std::chrono::sys_seconds> now;
};

class ChatTemplate {
 public:
  // Parses template source. Syntax errors read "line L, column C: ...". Never throws.
  static Result<ChatTemplate> Parse(std::string_view source, TemplateError* error = nullptr);

  // Renders with every key of `context` (an object) as a top-level variable. Use
  // nlohmann::ordered_json to keep key order, which shows in tojson and `for k in obj`.
  // Fails with raise_exception()'s message verbatim, or "line L, column C: ..." for runtime
  // errors (undefined operations, type errors, resource limits). Thread-safe: one parsed
  // template may render concurrently.
  Result<std::string> Render(const nlohmann::ordered_json& context,
                             const ChatTemplateOptions& options = {},
                             TemplateError* error = nullptr) const;
  // Same for nlohmann::json, whose objects iterate in sorted key order.
  Result<std::string> Render(const nlohmann::json& context,
                             const ChatTemplateOptions& options = {},
                             TemplateError* error = nullptr) const;

 private:
  explicit ChatTemplate(std::shared_ptr<const jinja::Program> program)
      : program_(std::move(program)) {}
  std::shared_ptr<const jinja::Program> program_;
};

// Parses and renders in one step (the CLI's `moe template --template FILE --context FILE`).
Result<std::string> RenderChatTemplate(std::string_view source,
                                       const nlohmann::ordered_json& context,
                                       const ChatTemplateOptions& options = {});

}  // namespace moe
