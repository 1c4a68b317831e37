// Jinja2 parser: token stream -> syntax tree, with Jinja2 3.1's grammar and operator
// precedence (jinja2/parser.py). Syntax errors carry the line and column of the offending
// token.
#pragma once

#include <string_view>

#include "base/status.h"
#include "tokenizer/jinja/ast.h"

namespace moe::jinja {

// Tokenizes and parses a whole template. Fails on sources larger than kMaxSourceBytes or
// nested deeper than kMaxParseDepth. Errors read "line L, column C: message".
Result<NodeList> ParseTemplate(std::string_view source);

}  // namespace moe::jinja
