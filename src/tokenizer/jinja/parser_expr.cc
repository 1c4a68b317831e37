// Jinja2 parser, expressions (see parser.h), with jinja2/parser.py's precedence:
// condexpr > or > and > not > compare > math1 (+ -) > concat (~) > math2 (* / // %) >
// pow (**) > unary (- +) > primary, postfix ([] . ()), filters and tests.
#include "tokenizer/jinja/parser_impl.h"

namespace moe::jinja::parser_internal {

Result<ExprPtr> Parser::ParseTuple(bool with_condexpr, Names extra, bool explicit_parentheses) {
  const Token& start = Cur();
  std::vector<ExprPtr> args;
  bool is_tuple = false;
  while (true) {
    if (!args.empty()) MOE_RETURN_IF_ERROR(ExpectOp(","));
    if (IsTupleEnd(extra)) break;
    MOE_ASSIGN_OR_RETURN(ExprPtr e, ParseExpression(with_condexpr));
    args.push_back(std::move(e));
    if (!IsOp(",")) break;
    is_tuple = true;
  }
  if (!is_tuple) {
    if (!args.empty()) return std::move(args[0]);
    if (!explicit_parentheses) {
      return ErrorAt(Cur(), fmt::format("expected an expression, got {}", Describe(Cur())));
    }
  }
  auto t = MakeExpr(ExprKind::kTuple, start);
  t->args = std::move(args);
  return Sealed(std::move(t));
}

Result<ExprPtr> Parser::ParseExpression(bool with_condexpr) {
  DepthGuard guard(*this);
  MOE_RETURN_IF_ERROR(CheckDepth());
  return with_condexpr ? ParseCondExpr() : ParseOr();
}

Result<ExprPtr> Parser::ParseCondExpr() {
  MOE_ASSIGN_OR_RETURN(ExprPtr expr1, ParseOr());
  while (IsName("if")) {
    const Token& at = Cur();
    Advance();
    auto cond = MakeExpr(ExprKind::kCondExpr, at);
    MOE_ASSIGN_OR_RETURN(ExprPtr expr2, ParseOr());
    ExprPtr expr3;
    if (SkipName("else")) {
      DepthGuard guard(*this);
      MOE_RETURN_IF_ERROR(CheckDepth());
      MOE_ASSIGN_OR_RETURN(expr3, ParseCondExpr());
    }
    cond->args.push_back(std::move(expr1));
    cond->args.push_back(std::move(expr2));
    cond->args.push_back(std::move(expr3));
    MOE_ASSIGN_OR_RETURN(expr1, Sealed(std::move(cond)));
  }
  return expr1;
}

Result<ExprPtr> Parser::Binary(std::string op, ExprPtr left, ExprPtr right, const Token& at) const {
  auto e = MakeExpr(ExprKind::kBinary, at);
  e->name = std::move(op);
  e->args.push_back(std::move(left));
  e->args.push_back(std::move(right));
  return Sealed(std::move(e));
}

Result<ExprPtr> Parser::ParseOr() {
  MOE_ASSIGN_OR_RETURN(ExprPtr left, ParseAnd());
  while (IsName("or")) {
    const Token at = Cur();
    Advance();
    MOE_ASSIGN_OR_RETURN(ExprPtr right, ParseAnd());
    MOE_ASSIGN_OR_RETURN(left, Binary("or", std::move(left), std::move(right), at));
  }
  return left;
}

Result<ExprPtr> Parser::ParseAnd() {
  MOE_ASSIGN_OR_RETURN(ExprPtr left, ParseNot());
  while (IsName("and")) {
    const Token at = Cur();
    Advance();
    MOE_ASSIGN_OR_RETURN(ExprPtr right, ParseNot());
    MOE_ASSIGN_OR_RETURN(left, Binary("and", std::move(left), std::move(right), at));
  }
  return left;
}

Result<ExprPtr> Parser::ParseNot() {
  if (IsName("not")) {
    DepthGuard guard(*this);
    MOE_RETURN_IF_ERROR(CheckDepth());
    auto e = MakeExpr(ExprKind::kUnary, Cur());
    e->name = "not";
    Advance();
    MOE_ASSIGN_OR_RETURN(ExprPtr operand, ParseNot());
    e->args.push_back(std::move(operand));
    return Sealed(std::move(e));
  }
  return ParseCompare();
}

Result<ExprPtr> Parser::ParseCompare() {
  const Token start = Cur();
  MOE_ASSIGN_OR_RETURN(ExprPtr expr, ParseMath1());
  ExprPtr cmp;
  while (true) {
    std::string op;
    if (Cur().type == TokenType::kOperator &&
        (IsOp("==") || IsOp("!=") || IsOp("<") || IsOp("<=") || IsOp(">") || IsOp(">="))) {
      op = Cur().value;
      Advance();
    } else if (IsName("in")) {
      op = "in";
      Advance();
    } else if (IsName("not") && Look().type == TokenType::kName && Look().value == "in") {
      op = "notin";
      Advance();
      Advance();
    } else {
      break;
    }
    if (!cmp) {
      cmp = MakeExpr(ExprKind::kCompare, start);
      cmp->args.push_back(std::move(expr));
    }
    MOE_ASSIGN_OR_RETURN(ExprPtr operand, ParseMath1());
    cmp->ops.push_back(std::move(op));
    cmp->args.push_back(std::move(operand));
  }
  if (!cmp) return expr;
  return Sealed(std::move(cmp));
}

Result<ExprPtr> Parser::ParseMath1() {
  MOE_ASSIGN_OR_RETURN(ExprPtr left, ParseConcat());
  while (IsOp("+") || IsOp("-")) {
    const Token at = Cur();
    Advance();
    MOE_ASSIGN_OR_RETURN(ExprPtr right, ParseConcat());
    MOE_ASSIGN_OR_RETURN(left, Binary(at.value, std::move(left), std::move(right), at));
  }
  return left;
}

Result<ExprPtr> Parser::ParseConcat() {
  MOE_ASSIGN_OR_RETURN(ExprPtr left, ParseMath2());
  while (IsOp("~")) {
    const Token at = Cur();
    Advance();
    MOE_ASSIGN_OR_RETURN(ExprPtr right, ParseMath2());
    MOE_ASSIGN_OR_RETURN(left, Binary("~", std::move(left), std::move(right), at));
  }
  return left;
}

Result<ExprPtr> Parser::ParseMath2() {
  MOE_ASSIGN_OR_RETURN(ExprPtr left, ParsePow());
  while (IsOp("*") || IsOp("/") || IsOp("//") || IsOp("%")) {
    const Token at = Cur();
    Advance();
    MOE_ASSIGN_OR_RETURN(ExprPtr right, ParsePow());
    MOE_ASSIGN_OR_RETURN(left, Binary(at.value, std::move(left), std::move(right), at));
  }
  return left;
}

Result<ExprPtr> Parser::ParsePow() {
  MOE_ASSIGN_OR_RETURN(ExprPtr left, ParseUnary(true));
  while (IsOp("**")) {
    const Token at = Cur();
    Advance();
    MOE_ASSIGN_OR_RETURN(ExprPtr right, ParseUnary(true));
    MOE_ASSIGN_OR_RETURN(left, Binary("**", std::move(left), std::move(right), at));
  }
  return left;
}

Result<ExprPtr> Parser::ParseUnary(bool with_filter) {
  DepthGuard guard(*this);
  MOE_RETURN_IF_ERROR(CheckDepth());
  ExprPtr node;
  if (IsOp("-") || IsOp("+")) {
    node = MakeExpr(ExprKind::kUnary, Cur());
    node->name = Cur().value;
    Advance();
    MOE_ASSIGN_OR_RETURN(ExprPtr operand, ParseUnary(false));
    node->args.push_back(std::move(operand));
    MOE_ASSIGN_OR_RETURN(node, Sealed(std::move(node)));
  } else {
    MOE_ASSIGN_OR_RETURN(node, ParsePrimary());
  }
  MOE_ASSIGN_OR_RETURN(node, ParsePostfix(std::move(node)));
  if (with_filter) {
    MOE_ASSIGN_OR_RETURN(node, ParseFilterExpr(std::move(node)));
  }
  return node;
}

Result<ExprPtr> Parser::ParsePrimary() {
  const Token& tok = Cur();
  switch (tok.type) {
    case TokenType::kName: {
      auto e = MakeExpr(ExprKind::kLiteral, tok);
      if (tok.value == "true" || tok.value == "True") {
        e->literal = Value::Bool(true);
      } else if (tok.value == "false" || tok.value == "False") {
        e->literal = Value::Bool(false);
      } else if (tok.value == "none" || tok.value == "None") {
        e->literal = Value::None();
      } else {
        e->kind = ExprKind::kName;
        e->name = tok.value;
      }
      Advance();
      return e;
    }
    case TokenType::kString: {
      auto e = MakeExpr(ExprKind::kLiteral, tok);
      std::string s;
      while (Cur().type == TokenType::kString) {
        s += Cur().value;
        Advance();
      }
      e->literal = Value::String(std::move(s));
      return e;
    }
    case TokenType::kInt:
    case TokenType::kFloat: {
      auto e = MakeExpr(ExprKind::kLiteral, tok);
      e->literal = tok.type == TokenType::kInt ? Value::Int(tok.int_value)
                                               : Value::Float(tok.float_value);
      Advance();
      return e;
    }
    case TokenType::kOperator:
      if (tok.value == "(") {
        Advance();
        MOE_ASSIGN_OR_RETURN(ExprPtr e, ParseTuple(true, {}, true));
        MOE_RETURN_IF_ERROR(ExpectOp(")"));
        return e;
      }
      if (tok.value == "[") return ParseList();
      if (tok.value == "{") return ParseDict();
      break;
    default: break;
  }
  return ErrorAt(tok, fmt::format("unexpected {}", Describe(tok)));
}

Result<ExprPtr> Parser::ParseList() {
  auto e = MakeExpr(ExprKind::kList, Cur());
  Advance();
  while (!IsOp("]")) {
    if (!e->args.empty()) MOE_RETURN_IF_ERROR(ExpectOp(","));
    if (IsOp("]")) break;
    MOE_ASSIGN_OR_RETURN(ExprPtr item, ParseExpression(true));
    e->args.push_back(std::move(item));
  }
  Advance();
  return Sealed(std::move(e));
}

Result<ExprPtr> Parser::ParseDict() {
  auto e = MakeExpr(ExprKind::kDict, Cur());
  Advance();
  while (!IsOp("}")) {
    if (!e->args.empty()) MOE_RETURN_IF_ERROR(ExpectOp(","));
    if (IsOp("}")) break;
    MOE_ASSIGN_OR_RETURN(ExprPtr key, ParseExpression(true));
    MOE_RETURN_IF_ERROR(ExpectOp(":"));
    MOE_ASSIGN_OR_RETURN(ExprPtr value, ParseExpression(true));
    e->args.push_back(std::move(key));
    e->args.push_back(std::move(value));
  }
  Advance();
  return Sealed(std::move(e));
}

Result<ExprPtr> Parser::ParsePostfix(ExprPtr node) {
  while (true) {
    if (IsOp(".") || IsOp("[")) {
      MOE_ASSIGN_OR_RETURN(node, ParseSubscript(std::move(node)));
    } else if (IsOp("(")) {
      MOE_ASSIGN_OR_RETURN(node, ParseCall(std::move(node)));
    } else {
      return node;
    }
  }
}

Result<ExprPtr> Parser::ParseFilterExpr(ExprPtr node) {
  while (true) {
    if (IsOp("|")) {
      MOE_ASSIGN_OR_RETURN(node, ParseFilter(std::move(node), false));
    } else if (IsName("is")) {
      MOE_ASSIGN_OR_RETURN(node, ParseTest(std::move(node)));
    } else if (IsOp("(")) {
      MOE_ASSIGN_OR_RETURN(node, ParseCall(std::move(node)));
    } else {
      return node;
    }
  }
}

Result<ExprPtr> Parser::ParseSubscript(ExprPtr node) {
  const Token tok = Cur();
  Advance();
  if (tok.value == ".") {
    const Token attr = Cur();
    Advance();
    if (attr.type == TokenType::kName) {
      auto e = MakeExpr(ExprKind::kGetAttr, tok);
      e->name = attr.value;
      e->args.push_back(std::move(node));
      return Sealed(std::move(e));
    }
    if (attr.type != TokenType::kInt) return ErrorAt(attr, "expected name or number after '.'");
    auto e = MakeExpr(ExprKind::kGetItem, tok);
    auto index = MakeExpr(ExprKind::kLiteral, attr);
    index->literal = Value::Int(attr.int_value);
    e->args.push_back(std::move(node));
    e->args.push_back(std::move(index));
    return Sealed(std::move(e));
  }
  // '[': one subscript (item or slice) or several (a tuple key).
  std::vector<ExprPtr> keys;
  ExprPtr slice;
  while (!IsOp("]")) {
    if (!keys.empty() || slice) MOE_RETURN_IF_ERROR(ExpectOp(","));
    MOE_ASSIGN_OR_RETURN(ExprPtr sub, ParseSubscribed(tok));
    if (sub->kind == ExprKind::kSlice) {
      if (slice || !keys.empty()) return ErrorAt(tok, "slices inside tuple keys are not supported");
      slice = std::move(sub);
    } else {
      if (slice) return ErrorAt(tok, "slices inside tuple keys are not supported");
      keys.push_back(std::move(sub));
    }
  }
  Advance();
  if (slice) {
    slice->args[0] = std::move(node);
    return Sealed(std::move(slice));
  }
  if (keys.empty()) return ErrorAt(tok, "expected a subscript expression");
  auto e = MakeExpr(ExprKind::kGetItem, tok);
  e->args.push_back(std::move(node));
  if (keys.size() == 1) {
    e->args.push_back(std::move(keys[0]));
  } else {
    auto t = MakeExpr(ExprKind::kTuple, tok);
    t->args = std::move(keys);
    MOE_ASSIGN_OR_RETURN(t, Sealed(std::move(t)));
    e->args.push_back(std::move(t));
  }
  return Sealed(std::move(e));
}

Result<ExprPtr> Parser::ParseSubscribed(const Token& at) {
  ExprPtr start;
  if (IsOp(":")) {
    Advance();
  } else {
    MOE_ASSIGN_OR_RETURN(start, ParseExpression(true));
    if (!IsOp(":")) return start;
    Advance();
  }
  auto slice = MakeExpr(ExprKind::kSlice, at);
  slice->args.push_back(nullptr);
  slice->args.push_back(std::move(start));
  ExprPtr stop, step;
  if (!IsOp(":") && !IsOp("]") && !IsOp(",")) {
    MOE_ASSIGN_OR_RETURN(stop, ParseExpression(true));
  }
  if (IsOp(":")) {
    Advance();
    if (!IsOp("]") && !IsOp(",")) {
      MOE_ASSIGN_OR_RETURN(step, ParseExpression(true));
    }
  }
  slice->args.push_back(std::move(stop));
  slice->args.push_back(std::move(step));
  return slice;
}

Result<CallSpec> Parser::ParseCallArgs() {
  const Token open = Cur();
  MOE_RETURN_IF_ERROR(ExpectOp("("));
  CallSpec spec;
  bool require_comma = false;
  auto invalid = [&] { return ErrorAt(open, "invalid syntax for function call expression"); };
  while (!IsOp(")")) {
    if (require_comma) {
      MOE_RETURN_IF_ERROR(ExpectOp(","));
      if (IsOp(")")) break;  // trailing comma
    }
    if (IsOp("*")) {
      if (spec.star_args || spec.star_kwargs) return invalid();
      Advance();
      MOE_ASSIGN_OR_RETURN(spec.star_args, ParseExpression(true));
    } else if (IsOp("**")) {
      if (spec.star_kwargs) return invalid();
      Advance();
      MOE_ASSIGN_OR_RETURN(spec.star_kwargs, ParseExpression(true));
    } else if (Cur().type == TokenType::kName && Look().type == TokenType::kOperator &&
               Look().value == "=") {
      if (spec.star_kwargs) return invalid();
      std::string key = Cur().value;
      Advance();
      Advance();
      MOE_ASSIGN_OR_RETURN(ExprPtr value, ParseExpression(true));
      spec.keyword.emplace_back(std::move(key), std::move(value));
    } else {
      if (spec.star_args || spec.star_kwargs || !spec.keyword.empty()) return invalid();
      MOE_ASSIGN_OR_RETURN(ExprPtr value, ParseExpression(true));
      spec.positional.push_back(std::move(value));
    }
    require_comma = true;
  }
  Advance();
  return spec;
}

Result<ExprPtr> Parser::ParseCall(ExprPtr callee) {
  auto e = MakeExpr(ExprKind::kCall, Cur());
  MOE_ASSIGN_OR_RETURN(e->call, ParseCallArgs());
  e->args.push_back(std::move(callee));
  return Sealed(std::move(e));
}

Result<std::string> Parser::ParseDottedName() {
  MOE_ASSIGN_OR_RETURN(std::string name, ExpectName());
  while (IsOp(".")) {
    Advance();
    MOE_ASSIGN_OR_RETURN(std::string part, ExpectName());
    name += "." + part;
  }
  return name;
}

Result<ExprPtr> Parser::ParseFilter(ExprPtr node, bool start_inline) {
  while (IsOp("|") || start_inline) {
    if (!start_inline) Advance();
    start_inline = false;
    auto e = MakeExpr(ExprKind::kFilter, Cur());
    MOE_ASSIGN_OR_RETURN(e->name, ParseDottedName());
    if (IsOp("(")) {
      MOE_ASSIGN_OR_RETURN(e->call, ParseCallArgs());
    }
    e->args.push_back(std::move(node));
    MOE_ASSIGN_OR_RETURN(node, Sealed(std::move(e)));
  }
  return node;
}

Result<ExprPtr> Parser::ParseTest(ExprPtr node) {
  auto e = MakeExpr(ExprKind::kTest, Cur());
  Advance();  // 'is'
  e->negated = SkipName("not");
  MOE_ASSIGN_OR_RETURN(e->name, ParseDottedName());
  const TokenType t = Cur().type;
  if (IsOp("(")) {
    MOE_ASSIGN_OR_RETURN(e->call, ParseCallArgs());
  } else if ((t == TokenType::kName || t == TokenType::kString || t == TokenType::kInt ||
              t == TokenType::kFloat || IsOp("[") || IsOp("{")) &&
             !IsNameIn({"else", "or", "and"})) {
    if (IsName("is")) return ErrorAt(Cur(), "you cannot chain multiple tests with 'is'");
    MOE_ASSIGN_OR_RETURN(ExprPtr arg, ParsePrimary());
    MOE_ASSIGN_OR_RETURN(arg, ParsePostfix(std::move(arg)));
    e->call.positional.push_back(std::move(arg));
  }
  e->args.push_back(std::move(node));
  return Sealed(std::move(e));
}

}  // namespace moe::jinja::parser_internal
