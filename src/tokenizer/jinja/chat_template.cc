// ChatTemplate (tokenizer/chat_template.h): parse once, render many times, on any thread.
#include "tokenizer/chat_template.h"

#include <fmt/format.h>

#include "tokenizer/jinja/interpreter.h"
#include "tokenizer/jinja/json_convert.h"
#include "tokenizer/jinja/parser.h"

namespace moe {
namespace jinja {

struct Program {
  NodeList body;
};

}  // namespace jinja

namespace {

// Splits "line L, column C: message" back into its parts.
void FillError(const Status& st, TemplateError::Kind kind, TemplateError* error) {
  if (error == nullptr) return;
  error->kind = kind;
  error->message = st.message();
  int line = 0, column = 0, consumed = 0;
  if (std::sscanf(st.message().c_str(), "line %d, column %d: %n", &line, &column, &consumed) == 2 &&
      consumed > 0) {
    error->line = line;
    error->column = column;
    error->message = st.message().substr(static_cast<size_t>(consumed));
  }
}

template <typename Json>
Result<std::string> RenderImpl(const jinja::Program& program, const Json& context,
                               const ChatTemplateOptions& options, TemplateError* error) {
  if (!context.is_object()) {
    Status st = Status::Error("the render context must be a JSON object");
    FillError(st, TemplateError::Kind::kRuntime, error);
    return st;
  }
  auto value = jinja::FromJson(context);
  if (!value.ok()) {
    Status st = value.status().WithContext("render context");
    FillError(st, TemplateError::Kind::kRuntime, error);
    return st;
  }
  jinja::Interpreter interpreter(jinja::RenderConfig{.now = options.now});
  jinja::ErrorInfo info;
  auto out = interpreter.Render(program.body, *value, &info);
  if (!out.ok()) {
    if (error != nullptr) {
      FillError(out.status(), info.raised ? TemplateError::Kind::kRaised : TemplateError::Kind::kRuntime,
                error);
      if (info.raised) {
        error->message = out.status().message();
        error->line = info.line;
        error->column = info.column;
      }
    }
    return out.status();
  }
  return out;
}

}  // namespace

Result<ChatTemplate> ChatTemplate::Parse(std::string_view source, TemplateError* error) {
  auto body = jinja::ParseTemplate(source);
  if (!body.ok()) {
    FillError(body.status(), TemplateError::Kind::kSyntax, error);
    return body.status();
  }
  auto program = std::make_shared<jinja::Program>();
  program->body = std::move(body).value();
  return ChatTemplate(std::move(program));
}

Result<std::string> ChatTemplate::Render(const nlohmann::ordered_json& context,
                                         const ChatTemplateOptions& options,
                                         TemplateError* error) const {
  return RenderImpl(*program_, context, options, error);
}

Result<std::string> ChatTemplate::Render(const nlohmann::json& context,
                                         const ChatTemplateOptions& options,
                                         TemplateError* error) const {
  return RenderImpl(*program_, context, options, error);
}

Result<std::string> RenderChatTemplate(std::string_view source,
                                       const nlohmann::ordered_json& context,
                                       const ChatTemplateOptions& options) {
  MOE_ASSIGN_OR_RETURN(ChatTemplate tmpl, ChatTemplate::Parse(source));
  return tmpl.Render(context, options);
}

}  // namespace moe
