// Syntax tree of a parsed Jinja template: expressions (Expr) and statements (Node). Built by
// the parser, read-only while rendering (a parsed template may render on many threads).
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tokenizer/jinja/value.h"

namespace moe::jinja {

struct Expr;
struct Node;
using ExprPtr = std::unique_ptr<Expr>;
using NodePtr = std::unique_ptr<Node>;
using NodeList = std::vector<NodePtr>;

// Arguments at a call site: f(a, b, key=c, *args, **kwargs).
struct CallSpec {
  std::vector<ExprPtr> positional;
  std::vector<std::pair<std::string, ExprPtr>> keyword;
  ExprPtr star_args;
  ExprPtr star_kwargs;
};

enum class ExprKind : uint8_t {
  kLiteral,   // literal
  kName,      // name
  kList,      // args: items
  kTuple,     // args: items
  kDict,      // args: key0, value0, key1, value1, ...
  kGetAttr,   // args[0].name   (attribute first, then item, as Jinja's getattr)
  kGetItem,   // args[0][args[1]]   (item first, then attribute)
  kSlice,     // args[0][args[1]:args[2]:args[3]], missing parts are null
  kCall,      // args[0](call)
  kFilter,    // args[0] | name(call)   (args[0] null inside {% filter %} blocks)
  kTest,      // args[0] is [not] name(call)
  kUnary,     // name ("-", "+", "not") applied to args[0]
  kBinary,    // args[0] name args[1]; name is + - * / // % ** ~ and or
  kCompare,   // args[0] ops[0] args[1] ops[1] args[2] ... (chained, Python style)
  kCondExpr,  // args[0] if args[1] else args[2] (args[2] null: undefined)
};

struct Expr {
  ExprKind kind = ExprKind::kLiteral;
  int line = 0;
  int column = 0;
  Value literal;
  std::string name;
  std::vector<ExprPtr> args;
  std::vector<std::string> ops;  // kCompare: == != < <= > >= in notin
  CallSpec call;
  bool negated = false;  // kTest: `is not`
  int height = 1;        // 1 + height of the tallest child (bounded by kMaxExprHeight)
};

// Left side of {% set %}, {% for %} and {% with %}: a name, `ns.attr`, or a tuple of targets.
struct Target {
  enum class Kind : uint8_t { kName, kAttr, kTuple };
  Kind kind = Kind::kName;
  std::string name;      // kName: variable; kAttr: attribute
  ExprPtr object;        // kAttr: the namespace expression
  std::vector<Target> items;  // kTuple
};

enum class NodeKind : uint8_t {
  kText,         // text
  kOutput,       // {{ expr }}
  kIf,           // branches (a null condition is the else branch)
  kFor,          // for target in expr [if condition] [recursive]: body [else: else_body]
  kSet,          // set target = expr
  kSetBlock,     // set name [| filters]: body endset (filters in expr, operand null)
  kMacro,        // macro name(params): body
  kCallBlock,    // call(params) expr: body   (body is the `caller` macro)
  kFilterBlock,  // filter expr: body
  kWith,         // with assignments: body
  kScope,        // body rendered in place; in a new variable scope when `scoped`
                 // ({% generation %}, {% block %}, {% print %})
  kBreak,
  kContinue,
  kDo,           // do expr (evaluated, result discarded)
};

struct Node {
  NodeKind kind = NodeKind::kText;
  int line = 0;
  int column = 0;
  std::string text;
  ExprPtr expr;
  ExprPtr condition;
  Target target;
  bool recursive = false;  // kFor
  bool scoped = false;     // kScope
  std::vector<std::pair<ExprPtr, NodeList>> branches;
  NodeList body;
  NodeList else_body;
  std::string name;                                     // kMacro
  std::vector<std::pair<std::string, ExprPtr>> params;  // kMacro, kCallBlock (default or null)
  std::vector<std::pair<Target, ExprPtr>> assignments;  // kWith
};

}  // namespace moe::jinja
