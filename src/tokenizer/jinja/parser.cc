// Jinja2 parser, statements (see parser.h): template data, {{ }} and {% %} tags, and
// assignment targets. Function names follow jinja2/parser.py so the grammar can be
// checked side by side; expressions are in parser_expr.cc.
#include "tokenizer/jinja/parser.h"

#include "tokenizer/jinja/parser_impl.h"

namespace moe::jinja {
namespace parser_internal {

Result<NodeList> Parser::Subparse(Names end_tokens) {
  NodeList body;
  while (true) {
    const Token& tok = Cur();
    switch (tok.type) {
      case TokenType::kText: {
        auto n = MakeNode(NodeKind::kText, tok);
        n->text = tok.value;
        body.push_back(std::move(n));
        Advance();
        break;
      }
      case TokenType::kVarBegin: {
        auto n = MakeNode(NodeKind::kOutput, tok);
        Advance();
        MOE_ASSIGN_OR_RETURN(n->expr, ParseTuple(true, {}, false));
        MOE_RETURN_IF_ERROR(ExpectType(TokenType::kVarEnd, "end of print statement '}}'"));
        body.push_back(std::move(n));
        break;
      }
      case TokenType::kBlockBegin: {
        Advance();
        if (end_tokens.size() != 0 && IsNameIn(end_tokens)) return body;
        MOE_ASSIGN_OR_RETURN(NodePtr n, ParseStatement());
        MOE_RETURN_IF_ERROR(ExpectType(TokenType::kBlockEnd, "end of statement block '%}'"));
        body.push_back(std::move(n));
        break;
      }
      case TokenType::kEof:
        if (end_tokens.size() != 0) {
          std::string want;
          for (std::string_view e : end_tokens) {
            want += (want.empty() ? "'" : " or '") + std::string(e) + "'";
          }
          return ErrorAt(tok, fmt::format("unexpected end of template, expected {}", want));
        }
        return body;
      default: return ErrorAt(tok, fmt::format("unexpected {}", Describe(tok)));
    }
  }
}

Result<NodeList> Parser::ParseStatements(Names end_tokens, bool drop_needle) {
  DepthGuard guard(*this);
  MOE_RETURN_IF_ERROR(CheckDepth());
  SkipOp(":");
  MOE_RETURN_IF_ERROR(ExpectType(TokenType::kBlockEnd, "end of statement block '%}'"));
  MOE_ASSIGN_OR_RETURN(NodeList body, Subparse(end_tokens));
  if (drop_needle) Advance();
  return body;
}

Result<NodePtr> Parser::ParseStatement() {
  const Token& tok = Cur();
  if (tok.type != TokenType::kName) return ErrorAt(tok, "tag name expected");
  const std::string tag = tok.value;
  open_blocks_.push_back(tag);
  auto node = ParseTagged(tag);
  open_blocks_.pop_back();
  return node;
}

Result<NodePtr> Parser::ParseTagged(const std::string& tag) {
  const Token& tok = Cur();
  if (tag == "for") return ParseFor();
  if (tag == "if") return ParseIf();
  if (tag == "set") return ParseSet();
  if (tag == "macro") return ParseMacro();
  if (tag == "call") return ParseCallBlock();
  if (tag == "filter") return ParseFilterBlock();
  if (tag == "with") return ParseWith();
  if (tag == "break" || tag == "continue") {
    if (loop_depth_ == 0) return ErrorAt(tok, fmt::format("'{}' outside of a loop", tag));
    auto n = MakeNode(tag == "break" ? NodeKind::kBreak : NodeKind::kContinue, tok);
    Advance();
    return n;
  }
  if (tag == "do") {
    auto n = MakeNode(NodeKind::kDo, tok);
    Advance();
    MOE_ASSIGN_OR_RETURN(n->expr, ParseTuple(true, {}, false));
    return n;
  }
  if (tag == "print") {
    auto n = MakeNode(NodeKind::kScope, tok);
    Advance();
    while (Cur().type != TokenType::kBlockEnd) {
      if (!n->body.empty()) MOE_RETURN_IF_ERROR(ExpectOp(","));
      auto out = MakeNode(NodeKind::kOutput, Cur());
      MOE_ASSIGN_OR_RETURN(out->expr, ParseExpression(true));
      n->body.push_back(std::move(out));
    }
    return n;
  }
  if (tag == "generation" || tag == "block" || tag == "autoescape") {
    auto n = MakeNode(NodeKind::kScope, tok);
    n->scoped = true;
    Advance();
    std::string block_name;
    if (tag == "block") {
      MOE_ASSIGN_OR_RETURN(block_name, ExpectName());
      SkipName("scoped");
      SkipName("required");
    } else if (tag == "autoescape") {
      MOE_ASSIGN_OR_RETURN(ExprPtr ignored, ParseExpression(true));
    }
    const std::string end = "end" + tag;
    MOE_ASSIGN_OR_RETURN(n->body, ParseStatements({end}, true));
    if (!block_name.empty()) SkipName(block_name);
    return n;
  }
  if (tag == "include" || tag == "import" || tag == "from" || tag == "extends") {
    return ErrorAt(tok, fmt::format("'{}' is not supported in chat templates", tag));
  }
  std::string hint;
  if (open_blocks_.size() >= 2) {  // back() is this unknown tag itself
    hint = fmt::format("; the innermost open block is '{}', expecting its end tag",
                       open_blocks_[open_blocks_.size() - 2]);
  }
  return ErrorAt(tok, fmt::format("encountered unknown tag '{}'{}", tag, hint));
}

Result<NodePtr> Parser::ParseFor() {
  auto n = MakeNode(NodeKind::kFor, Cur());
  Advance();
  MOE_ASSIGN_OR_RETURN(n->target, ParseAssignTarget(true, false, {"in"}));
  if (!SkipName("in")) return Unexpected("'in'");
  MOE_ASSIGN_OR_RETURN(n->expr, ParseTuple(false, {"recursive"}, false));
  if (SkipName("if")) {
    MOE_ASSIGN_OR_RETURN(n->condition, ParseExpression(true));
  }
  n->recursive = SkipName("recursive");
  ++loop_depth_;
  auto body = ParseStatements({"endfor", "else"}, false);
  --loop_depth_;
  if (!body.ok()) return body.status();
  n->body = std::move(body).value();
  const bool has_else = IsName("else");
  Advance();
  if (has_else) {
    const int saved = loop_depth_;
    loop_depth_ = 0;
    auto else_body = ParseStatements({"endfor"}, true);
    loop_depth_ = saved;
    if (!else_body.ok()) return else_body.status();
    n->else_body = std::move(else_body).value();
  }
  return n;
}

Result<NodePtr> Parser::ParseIf() {
  auto n = MakeNode(NodeKind::kIf, Cur());
  Advance();
  while (true) {
    MOE_ASSIGN_OR_RETURN(ExprPtr cond, ParseTuple(false, {}, false));
    MOE_ASSIGN_OR_RETURN(NodeList body, ParseStatements({"elif", "else", "endif"}, false));
    n->branches.emplace_back(std::move(cond), std::move(body));
    const std::string tag = Cur().value;
    Advance();
    if (tag == "elif") continue;
    if (tag == "else") {
      MOE_ASSIGN_OR_RETURN(NodeList else_body, ParseStatements({"endif"}, true));
      n->branches.emplace_back(nullptr, std::move(else_body));
    }
    break;
  }
  return n;
}

Result<NodePtr> Parser::ParseSet() {
  auto n = MakeNode(NodeKind::kSet, Cur());
  Advance();
  MOE_ASSIGN_OR_RETURN(n->target, ParseAssignTarget(true, true, {}));
  if (SkipOp("=")) {
    MOE_ASSIGN_OR_RETURN(n->expr, ParseTuple(true, {}, false));
    return n;
  }
  n->kind = NodeKind::kSetBlock;
  if (IsOp("|")) {
    MOE_ASSIGN_OR_RETURN(n->expr, ParseFilter(nullptr, false));
  }
  MOE_ASSIGN_OR_RETURN(n->body, ParseStatements({"endset"}, true));
  return n;
}

Status Parser::ParseSignature(std::vector<std::pair<std::string, ExprPtr>>& params) {
  MOE_RETURN_IF_ERROR(ExpectOp("("));
  bool has_default = false;
  while (!IsOp(")")) {
    if (!params.empty()) MOE_RETURN_IF_ERROR(ExpectOp(","));
    MOE_ASSIGN_OR_RETURN(std::string name, ExpectName());
    ExprPtr def;
    if (SkipOp("=")) {
      MOE_ASSIGN_OR_RETURN(def, ParseExpression(true));
      has_default = true;
    } else if (has_default) {
      return ErrorAt(Cur(), "non-default argument follows default argument");
    }
    params.emplace_back(std::move(name), std::move(def));
  }
  Advance();
  return Status();
}

Result<NodeList> Parser::ParseFunctionBody(std::string_view end) {
  const int saved = loop_depth_;
  loop_depth_ = 0;
  auto body = ParseStatements({end}, true);
  loop_depth_ = saved;
  return body;
}

Result<NodePtr> Parser::ParseMacro() {
  auto n = MakeNode(NodeKind::kMacro, Cur());
  Advance();
  MOE_ASSIGN_OR_RETURN(n->name, ExpectName());
  MOE_RETURN_IF_ERROR(ParseSignature(n->params));
  MOE_ASSIGN_OR_RETURN(n->body, ParseFunctionBody("endmacro"));
  return n;
}

Result<NodePtr> Parser::ParseCallBlock() {
  auto n = MakeNode(NodeKind::kCallBlock, Cur());
  Advance();
  if (IsOp("(")) MOE_RETURN_IF_ERROR(ParseSignature(n->params));
  const Token& at = Cur();
  MOE_ASSIGN_OR_RETURN(n->expr, ParseExpression(true));
  if (n->expr->kind != ExprKind::kCall) return ErrorAt(at, "expected a call after 'call'");
  MOE_ASSIGN_OR_RETURN(n->body, ParseFunctionBody("endcall"));
  return n;
}

Result<NodePtr> Parser::ParseFilterBlock() {
  auto n = MakeNode(NodeKind::kFilterBlock, Cur());
  Advance();
  MOE_ASSIGN_OR_RETURN(n->expr, ParseFilter(nullptr, true));
  MOE_ASSIGN_OR_RETURN(n->body, ParseStatements({"endfilter"}, true));
  return n;
}

Result<NodePtr> Parser::ParseWith() {
  auto n = MakeNode(NodeKind::kWith, Cur());
  Advance();
  while (Cur().type != TokenType::kBlockEnd) {
    if (!n->assignments.empty()) MOE_RETURN_IF_ERROR(ExpectOp(","));
    MOE_ASSIGN_OR_RETURN(Target target, ParseAssignTarget(true, false, {}));
    MOE_RETURN_IF_ERROR(ExpectOp("="));
    MOE_ASSIGN_OR_RETURN(ExprPtr value, ParseExpression(true));
    n->assignments.emplace_back(std::move(target), std::move(value));
  }
  MOE_ASSIGN_OR_RETURN(n->body, ParseStatements({"endwith"}, true));
  return n;
}

bool Parser::IsTupleEnd(Names extra) const {
  if (Cur().type == TokenType::kVarEnd || Cur().type == TokenType::kBlockEnd || IsOp(")")) {
    return true;
  }
  return extra.size() != 0 && IsNameIn(extra);
}

Result<Target> Parser::ParseAssignTarget(bool with_tuple, bool with_namespace, Names extra) {
  DepthGuard guard(*this);
  MOE_RETURN_IF_ERROR(CheckDepth());
  std::vector<Target> items;
  bool is_tuple = false;
  while (true) {
    if (!items.empty()) MOE_RETURN_IF_ERROR(ExpectOp(","));
    if (IsTupleEnd(extra)) break;
    MOE_ASSIGN_OR_RETURN(Target t, ParseTargetPrimary(with_namespace));
    items.push_back(std::move(t));
    if (!with_tuple || !IsOp(",")) break;
    is_tuple = true;
  }
  if (items.empty()) return Unexpected("an assignment target");
  if (!is_tuple) return std::move(items[0]);
  Target t;
  t.kind = Target::Kind::kTuple;
  t.items = std::move(items);
  return t;
}

Result<Target> Parser::ParseTargetPrimary(bool with_namespace) {
  const Token& tok = Cur();
  if (tok.type == TokenType::kName) {
    static constexpr std::string_view kConsts[] = {"true", "false", "none",
                                                   "True", "False", "None"};
    if (std::find(std::begin(kConsts), std::end(kConsts), tok.value) != std::end(kConsts)) {
      return ErrorAt(tok, "can't assign to a constant");
    }
    Target t;
    t.name = tok.value;
    Advance();
    if (with_namespace && IsOp(".")) {
      Advance();
      auto obj = MakeExpr(ExprKind::kName, tok);
      obj->name = t.name;
      MOE_ASSIGN_OR_RETURN(t.name, ExpectName());
      t.kind = Target::Kind::kAttr;
      t.object = std::move(obj);
    }
    return t;
  }
  if (IsOp("(")) {
    Advance();
    MOE_ASSIGN_OR_RETURN(Target t, ParseAssignTarget(true, with_namespace, {}));
    MOE_RETURN_IF_ERROR(ExpectOp(")"));
    return t;
  }
  return ErrorAt(tok, fmt::format("can't assign to {}", Describe(tok)));
}

}  // namespace parser_internal

Result<NodeList> ParseTemplate(std::string_view source) {
  if (source.size() > kMaxSourceBytes) {
    return Status::Errorf("template is {} bytes, more than the limit of {}", source.size(),
                          kMaxSourceBytes);
  }
  MOE_ASSIGN_OR_RETURN(std::vector<Token> tokens, Tokenize(source));
  return parser_internal::Parser(std::move(tokens)).Parse();
}

}  // namespace moe::jinja
