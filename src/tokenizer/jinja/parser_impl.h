// Internal to the parser (parser.cc: statements, parser_expr.cc: expressions): the
// recursive-descent Parser class over the lexer's tokens.
#pragma once

#include <fmt/format.h>

#include <algorithm>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "tokenizer/jinja/ast.h"
#include "tokenizer/jinja/lexer.h"
#include "tokenizer/jinja/limits.h"

namespace moe::jinja::parser_internal {

using Names = std::initializer_list<std::string_view>;

class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : tokens_(std::move(tokens)) {}

  Result<NodeList> Parse() { return Subparse({}); }

 private:
  // Counts nesting; fails past kMaxParseDepth.
  class DepthGuard {
   public:
    explicit DepthGuard(Parser& p) : p_(p) { ++p_.depth_; }
    ~DepthGuard() { --p_.depth_; }
    DepthGuard(const DepthGuard&) = delete;
    DepthGuard& operator=(const DepthGuard&) = delete;

   private:
    Parser& p_;
  };

  const Token& Cur() const { return tokens_[pos_]; }
  const Token& Look() const { return tokens_[std::min(pos_ + 1, tokens_.size() - 1)]; }
  void Advance() {
    if (pos_ + 1 < tokens_.size()) ++pos_;
  }
  bool IsOp(std::string_view op) const {
    return Cur().type == TokenType::kOperator && Cur().value == op;
  }
  bool IsName(std::string_view name) const {
    return Cur().type == TokenType::kName && Cur().value == name;
  }
  bool IsNameIn(Names names) const {
    if (Cur().type != TokenType::kName) return false;
    return std::find(names.begin(), names.end(), Cur().value) != names.end();
  }
  bool SkipOp(std::string_view op) {
    if (!IsOp(op)) return false;
    Advance();
    return true;
  }
  bool SkipName(std::string_view name) {
    if (!IsName(name)) return false;
    Advance();
    return true;
  }

  static std::string Describe(const Token& t) {
    switch (t.type) {
      case TokenType::kText: return "template data";
      case TokenType::kVarBegin: return "begin of print statement '{{'";
      case TokenType::kVarEnd: return "end of print statement '}}'";
      case TokenType::kBlockBegin: return "begin of statement block '{%'";
      case TokenType::kBlockEnd: return "end of statement block '%}'";
      case TokenType::kName: return "'" + t.value + "'";
      case TokenType::kString: return "string literal";
      case TokenType::kInt: return "integer literal";
      case TokenType::kFloat: return "float literal";
      case TokenType::kOperator: return "'" + t.value + "'";
      case TokenType::kEof: return "end of template";
    }
    return "token";
  }

  Status ErrorAt(const Token& t, std::string_view message) const {
    return Status::Errorf("line {}, column {}: {}", t.line, t.column, message);
  }
  Status Unexpected(std::string_view expected) const {
    return ErrorAt(Cur(), fmt::format("expected {}, got {}", expected, Describe(Cur())));
  }
  Status ExpectOp(std::string_view op) {
    if (!SkipOp(op)) return Unexpected(fmt::format("'{}'", op));
    return Status();
  }
  Status ExpectType(TokenType type, std::string_view what) {
    if (Cur().type != type) return Unexpected(what);
    Advance();
    return Status();
  }
  Result<std::string> ExpectName() {
    if (Cur().type != TokenType::kName) return Unexpected("a name");
    std::string name = Cur().value;
    Advance();
    return name;
  }
  Status CheckDepth() const {
    if (depth_ > kMaxParseDepth) {
      return ErrorAt(Cur(), fmt::format("template nested deeper than {} levels", kMaxParseDepth));
    }
    return Status();
  }

  ExprPtr MakeExpr(ExprKind kind, const Token& at) const {
    auto e = std::make_unique<Expr>();
    e->kind = kind;
    e->line = at.line;
    e->column = at.column;
    return e;
  }
  // Records the height of a finished parent expression; fails past kMaxExprHeight.
  Result<ExprPtr> Sealed(ExprPtr e) const {
    int h = 0;
    auto visit = [&h](const ExprPtr& c) {
      if (c) h = std::max(h, c->height);
    };
    for (const auto& c : e->args) visit(c);
    for (const auto& c : e->call.positional) visit(c);
    for (const auto& kv : e->call.keyword) visit(kv.second);
    visit(e->call.star_args);
    visit(e->call.star_kwargs);
    e->height = h + 1;
    if (e->height > kMaxExprHeight) {
      return Status::Errorf("line {}, column {}: expression nested deeper than {} levels",
                            e->line, e->column, kMaxExprHeight);
    }
    return e;
  }

  NodePtr MakeNode(NodeKind kind, const Token& at) const {
    auto n = std::make_unique<Node>();
    n->kind = kind;
    n->line = at.line;
    n->column = at.column;
    return n;
  }

  // ---- statements (parser.cc) ----
  Result<NodeList> Subparse(Names end_tokens);
  // Parses `%}` body up to one of `end_tokens`; the end tag's name is consumed when
  // `drop_needle` (its `%}` is left for the caller).
  Result<NodeList> ParseStatements(Names end_tokens, bool drop_needle);
  Result<NodePtr> ParseStatement();
  Result<NodePtr> ParseTagged(const std::string& tag);
  Result<NodePtr> ParseFor();
  Result<NodePtr> ParseIf();
  Result<NodePtr> ParseSet();
  Status ParseSignature(std::vector<std::pair<std::string, ExprPtr>>& params);
  // A macro or caller body: break/continue cannot reach loops outside it.
  Result<NodeList> ParseFunctionBody(std::string_view end);
  Result<NodePtr> ParseMacro();
  Result<NodePtr> ParseCallBlock();
  Result<NodePtr> ParseFilterBlock();
  Result<NodePtr> ParseWith();
  bool IsTupleEnd(Names extra) const;
  // parse_assign_target: a name, `ns.attr` (with_namespace) or a tuple of those.
  Result<Target> ParseAssignTarget(bool with_tuple, bool with_namespace, Names extra);
  Result<Target> ParseTargetPrimary(bool with_namespace);

  // ---- expressions (parser_expr.cc) ----
  Result<ExprPtr> ParseTuple(bool with_condexpr, Names extra, bool explicit_parentheses);
  Result<ExprPtr> ParseExpression(bool with_condexpr);
  Result<ExprPtr> ParseCondExpr();
  Result<ExprPtr> Binary(std::string op, ExprPtr left, ExprPtr right, const Token& at) const;
  Result<ExprPtr> ParseOr();
  Result<ExprPtr> ParseAnd();
  Result<ExprPtr> ParseNot();
  Result<ExprPtr> ParseCompare();
  Result<ExprPtr> ParseMath1();
  Result<ExprPtr> ParseConcat();
  Result<ExprPtr> ParseMath2();
  Result<ExprPtr> ParsePow();
  Result<ExprPtr> ParseUnary(bool with_filter);
  Result<ExprPtr> ParsePrimary();
  Result<ExprPtr> ParseList();
  Result<ExprPtr> ParseDict();
  Result<ExprPtr> ParsePostfix(ExprPtr node);
  Result<ExprPtr> ParseFilterExpr(ExprPtr node);
  Result<ExprPtr> ParseSubscript(ExprPtr node);
  // An index expression, or a slice (kSlice with args [placeholder, start, stop, step]).
  Result<ExprPtr> ParseSubscribed(const Token& at);
  Result<CallSpec> ParseCallArgs();
  Result<ExprPtr> ParseCall(ExprPtr callee);
  // Dotted names (`a.b`) as Jinja accepts them for filters and tests.
  Result<std::string> ParseDottedName();
  Result<ExprPtr> ParseFilter(ExprPtr node, bool start_inline);
  Result<ExprPtr> ParseTest(ExprPtr node);

  std::vector<Token> tokens_;
  size_t pos_ = 0;
  int depth_ = 0;
  int loop_depth_ = 0;
  std::vector<std::string> open_blocks_;  // tags of the statements being parsed
};

}  // namespace moe::jinja::parser_internal
