// Jinja2 lexer: splits template source into text and tag tokens, applying Jinja2 3.1's
// whitespace control exactly as Hugging Face configures it (trim_blocks, lstrip_blocks,
// keep_trailing_newline=False, manual -/+ markers).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace moe::jinja {

enum class TokenType : uint8_t {
  kText,        // template data between tags (value: the text)
  kVarBegin,    // {{
  kVarEnd,      // }}
  kBlockBegin,  // {%
  kBlockEnd,    // %}
  kName,        // identifier or keyword (value)
  kString,      // string literal, escapes decoded (value)
  kInt,         // integer literal (int_value)
  kFloat,       // float literal (float_value)
  kOperator,    // + - * / // % ** ~ == != < <= > >= = . : | , ; ( ) [ ] { } (value)
  kEof,
};

struct Token {
  TokenType type = TokenType::kEof;
  std::string value;
  int64_t int_value = 0;
  double float_value = 0;
  int line = 1;    // 1-based
  int column = 1;  // 1-based, in code points
};

// Tokenizes `source`. Errors read "line L, column C: message".
Result<std::vector<Token>> Tokenize(std::string_view source);

}  // namespace moe::jinja
